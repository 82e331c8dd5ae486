// Certificates named by file (a gateway's, and a DestinationRule's for TLS origination), kept current as
// istio-agent's SDS server keeps them (security/pkg/nodeagent/cache/secretcache.go: addFileWatcher,
// handleFileWatch): a changed file is read again off the event loop and, once it holds a usable
// credential, used by new handshakes; until then, and if it never does, the last good one stays.
import { type FSWatcher, lstatSync, realpathSync, type Stats, statSync, watch } from 'node:fs';
import { lstat, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Timers } from '../http/router.ts';
import type { FileCredential, KeyPairPem } from './file-credentials.ts';

/** Istio's FILE_DEBOUNCE_DURATION: a burst of events is read once, this long after its first. */
export const FILE_DEBOUNCE_MS = 100;
/**
 * A credential that does not load is tried again, as generateKeyCertFromExistingFiles retries (backoff
 * from FILE_DEBOUNCE_DURATION, ×1.5 as cenkalti/backoff, jitter left out) within totalTimeout (10 s):
 * a certificate is often written a moment before its key.
 */
const RETRY_MULTIPLIER = 1.5;
export const RETRY_BUDGET_MS = 10_000;
/**
 * A directory that cannot be watched (not there yet, or removed) is tried again this often, for as long
 * as it is named: addFileWatcher retries adding its watch without end.
 */
export const REWATCH_MS = 10_000;

type Value = KeyPairPem | string;

interface Held {
  readonly credential: FileCredential;
  /** The last good value: the one read when the listener arrived, or since; none yet while its first read does not load. */
  value: Value | undefined;
  /** The directories watched for it: its files' and, for a symlink, its target's (resolved again at each read). */
  dirs: Set<string>;
  /** The names whose events concern it (see Located). */
  names: Set<string>;
  /** The debounce or a retry, while one is pending. */
  timer?: unknown;
  retrying: boolean;
  reading: boolean;
  /** An event came while reading: what was read may be older than the file. */
  again: boolean;
  /** Retry time spent since the change, and the next wait. */
  waited: number;
  delay: number;
}

interface WatchedDir {
  readonly watcher: FSWatcher;
  readonly ids: Set<string>;
  /**
   * The directory's device and inode when its watch started. inotify ends the watch of a directory that
   * is removed or moved (IN_IGNORED) and Node reports no error: one found replaced is watched again.
   */
  readonly identity: string | undefined;
  /** It was renamed or removed (an event naming the directory itself). */
  gone: boolean;
}

/**
 * Where a credential's files are now: each directory to watch (with its identity; undefined: it cannot
 * be stat'ed) and the names whose events concern it: its files', their symlinks' targets', and a
 * Kubernetes secret volume's `..data`.
 */
interface Located {
  readonly dirs: ReadonlyMap<string, string | undefined>;
  readonly names: ReadonlySet<string>;
}

export interface FileWatchDeps {
  timers: Timers;
  /** A credential changed: secure contexts built from it are stale. */
  onChange(): void;
  /** A changed file that holds no usable credential; the message names the files, never their content. */
  warn(message: string): void;
}

export class FileCredentialWatch {
  #deps: FileWatchDeps;
  #held = new Map<string, Held>();
  /**
   * One watch per directory, not per file, as fsnotify users do: replacing a file by rename, or swapping
   * a Kubernetes secret volume's `..data` symlink, is an event of the directory, never of the file's
   * old inode. Each is held by the credentials with a file in it and closed when none is left.
   */
  #dirs = new Map<string, WatchedDir>();
  /** Directories that could not be watched, by the credentials in them, each with its re-add timer. */
  #lost = new Map<string, { ids: Set<string>; timer: unknown }>();

  constructor(deps: FileWatchDeps) {
    this.#deps = deps;
  }

  /**
   * The credentials the listeners and clusters name now, with what their compile read: new ones are
   * watched, and those nothing names any more are closed. One already held keeps its last good value; a compile
   * that read something else counts as a change (a missed event, or a bad file read again), and a watch
   * that could not start, has ended or watches a directory since replaced is started again, as
   * istio-agent retries adding a watch. One held with no value (a pair read mid-rotation) is read again
   * as a changed file is, and served once it loads. True when a credential was held anew or let go: one held anew may have changed while
   * nothing held it, so contexts built under its id before are stale.
   */
  hold(credentials: readonly { credential: FileCredential; value: Value | undefined }[]): boolean {
    const next = new Map(credentials.map((c) => [c.credential.id, c]));
    let changed = false;
    let loaded = false;
    for (const [id, c] of next) {
      let h = this.#held.get(id);
      const fresh = h === undefined;
      if (!h) {
        h = { credential: c.credential, value: c.value, dirs: new Set(), names: new Set(), retrying: false, reading: false, again: false, waited: 0, delay: FILE_DEBOUNCE_MS };
        this.#held.set(id, h);
        changed = true;
      } else if (h.value === undefined && c.value !== undefined) {
        // A pair caught mid-rotation that this compile read whole: served now, as a reload's would be.
        h.value = c.value;
        loaded = true;
      } else if (!same(h.value, c.value)) this.#schedule(h);
      if (c.value === undefined) {
        // Said once, when it is first held so; every update reads it again all the same.
        if (fresh) this.#deps.warn(`${c.credential.files.join(' and ')} are not a certificate and its key (being rotated?): its chains refuse handshakes until they are`);
        this.#schedule(h);
      }
      this.#follow(h, locateSync(c.credential), true);
    }
    for (const [id, h] of this.#held) {
      if (next.has(id)) continue;
      this.#drop(id, h);
      changed = true;
    }
    if (loaded) this.#deps.onChange();
    return changed;
  }

  /** A held key pair's current value. */
  keyPair(id: string): KeyPairPem | undefined {
    const v = this.#held.get(id)?.value;
    return typeof v === 'object' ? v : undefined;
  }

  /** A held CA bundle's current value. */
  bundle(id: string): string | undefined {
    const v = this.#held.get(id)?.value;
    return typeof v === 'string' ? v : undefined;
  }

  /** The directories watched now. */
  watchedDirs(): string[] {
    return [...this.#dirs.keys()];
  }

  close(): void {
    for (const [id, h] of this.#held) this.#drop(id, h);
  }

  /** Directories that cannot be watched now, tried again every REWATCH_MS. */
  lostDirs(): string[] {
    return [...this.#lost.keys()];
  }

  /**
   * Watches the directories a credential's files are in now and lets go of those they left. A watched
   * directory found replaced is watched again, and its other credentials read again. `loud`: a directory
   * that cannot be watched is warned of (a reload's read of a missing file warns of it instead).
   */
  #follow(h: Held, where: Located, loud: boolean, reading?: Held): void {
    const id = h.credential.id;
    for (const [dir, identity] of where.dirs) {
      const d = this.#dirs.get(dir);
      if (d && (d.gone || (identity !== undefined && d.identity !== identity))) {
        d.watcher.close();
        this.#dirs.delete(dir);
        this.#watchDir(dir, new Set([...d.ids, id]), identity, loud);
        for (const other of d.ids) if (other !== reading?.credential.id) this.#scheduleId(other);
      } else if (d) d.ids.add(id);
      else if (this.#lost.has(dir)) {
        this.#lost.get(dir)?.ids.add(id);
        this.#rewatch(dir, identity, loud, reading);
      } else this.#watchDir(dir, new Set([id]), identity, loud);
    }
    for (const dir of h.dirs) if (!where.dirs.has(dir)) this.#release(dir, id);
    h.dirs = new Set(where.dirs.keys());
    h.names = new Set(where.names);
  }

  #watchDir(dir: string, ids: Set<string>, identity: string | undefined, loud: boolean): void {
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, (event, name) => this.#onEvent(dir, watcher, event, name));
    } catch (err) {
      if (loud) this.#deps.warn(`cannot watch ${dir} (${(err as NodeJS.ErrnoException).code ?? 'error'}): tried again every ${REWATCH_MS / 1000} s`);
      this.#lose(dir, ids);
      return;
    }
    // Its certificates keep their last value; their next read, or the re-add timer, watches the directory again.
    watcher.on('error', (err: NodeJS.ErrnoException) => {
      this.#deps.warn(`watch of ${dir} ended (${err.code ?? 'error'}): tried again every ${REWATCH_MS / 1000} s`);
      watcher.close();
      const d = this.#dirs.get(dir);
      if (d?.watcher !== watcher) return;
      this.#dirs.delete(dir);
      this.#lose(dir, d.ids);
    });
    this.#dirs.set(dir, { watcher, ids, identity, gone: false });
  }

  /**
   * A directory that could not be watched is tried again until it can be, and its credentials are then
   * read (what was written meanwhile had no event), as addFileWatcher retries (RetryWithContext, no
   * deadline) and then reads the files.
   */
  #lose(dir: string, ids: Set<string>): void {
    const timer = this.#deps.timers.set(() => {
      let identity: string | undefined;
      try {
        identity = identityOf(statSync(dir));
      } catch {
        // Still not there: the watch fails and the timer is set again.
      }
      this.#rewatch(dir, identity, false);
    }, REWATCH_MS);
    this.#lost.set(dir, { ids, timer });
  }

  /** A directory that could not be watched, tried again (its timer, a listener update, a read); `reading` is read already. */
  #rewatch(dir: string, identity: string | undefined, loud: boolean, reading?: Held): void {
    const lost = this.#lost.get(dir);
    if (!lost) return;
    this.#deps.timers.clear(lost.timer);
    this.#lost.delete(dir);
    this.#watchDir(dir, lost.ids, identity, loud);
    if (this.#dirs.has(dir)) for (const id of lost.ids) if (id !== reading?.credential.id) this.#scheduleId(id);
  }

  #release(dir: string, id: string): void {
    const lost = this.#lost.get(dir);
    if (lost?.ids.delete(id) && lost.ids.size === 0) {
      this.#deps.timers.clear(lost.timer);
      this.#lost.delete(dir);
    }
    const d = this.#dirs.get(dir);
    if (!d?.ids.delete(id) || d.ids.size > 0) return;
    d.watcher.close();
    this.#dirs.delete(dir);
  }

  #drop(id: string, h: Held): void {
    this.#held.delete(id);
    if (h.timer !== undefined) this.#deps.timers.clear(h.timer);
    for (const dir of h.dirs) this.#release(dir, id);
  }

  /**
   * An event naming one of a credential's files (or their targets), or a secret volume's `..data` swap,
   * reads it again; others in the directory (a busy log beside the certificates) do not. An event with
   * no name may be any of them. An event naming the directory itself is its removal or move: the watch
   * has ended, so the reads watch it again.
   */
  #onEvent(dir: string, watcher: FSWatcher, event: string, name: string | null | undefined): void {
    const d = this.#dirs.get(dir);
    if (d?.watcher !== watcher) return;
    if (event === 'rename' && name === path.basename(dir)) d.gone = true;
    for (const id of d.ids) {
      const h = this.#held.get(id);
      if (h && (d.gone || name == null || h.names.has(name))) this.#schedule(h);
    }
  }

  #scheduleId(id: string): void {
    const h = this.#held.get(id);
    if (h) this.#schedule(h);
  }

  #schedule(h: Held): void {
    if (h.reading) {
      h.again = true;
      return;
    }
    // A pending read is the burst's; a pending retry starts over, as a new event starts a new
    // GenerateSecret in istio-agent.
    if (h.timer !== undefined && !h.retrying) return;
    if (h.timer !== undefined) this.#deps.timers.clear(h.timer);
    h.retrying = false;
    h.waited = 0;
    h.delay = FILE_DEBOUNCE_MS;
    h.timer = this.#deps.timers.set(() => void this.#reload(h), FILE_DEBOUNCE_MS);
  }

  async #reload(h: Held): Promise<void> {
    h.timer = undefined;
    h.reading = true;
    // First where the files are now (a symlink re-pointed, a directory replaced), so a change after this read is seen.
    const where = await locate(h.credential);
    if (this.#held.get(h.credential.id) === h) this.#follow(h, where, false, h);
    let value: Value | undefined;
    let error: unknown;
    try {
      value = await h.credential.load(this.#deps.warn);
    } catch (err) {
      error = err;
    }
    h.reading = false;
    if (this.#held.get(h.credential.id) !== h) return;
    if (value !== undefined) {
      h.retrying = false;
      if (!same(value, h.value)) {
        h.value = value;
        this.#deps.onChange();
      }
    }
    // A change during the read is read again; what this read found usable is served meanwhile, so
    // a directory that never goes quiet does not keep the new certificate out.
    if (h.again) {
      h.again = false;
      this.#schedule(h);
      return;
    }
    if (value !== undefined) return;
    if (h.waited < RETRY_BUDGET_MS) {
      h.retrying = true;
      h.timer = this.#deps.timers.set(() => void this.#reload(h), h.delay);
      h.waited += h.delay;
      h.delay *= RETRY_MULTIPLIER;
      return;
    }
    h.retrying = false;
    this.#deps.warn(`${error instanceof Error ? error.message : String(error)} after a change: ${h.value === undefined ? 'its chains refuse handshakes until it loads' : 'the last good certificate is served'}`);
  }
}

/**
 * Where the files are, from their resolved targets (undefined: not there), their directories that are
 * symlinks (`current -> v1`: re-pointing one is an event of its own directory, which is watched too, as
 * newer istio-agents watch a symlink's parent) and each directory's identity.
 */
function located(files: readonly string[], targets: readonly (string | undefined)[], linked: readonly string[], identify: (dir: string) => string | undefined): Located {
  // A symlinked directory is watched in its parent for its own name, unless that parent is the root.
  const relinkable = linked.filter((d) => path.dirname(d) !== path.parse(d).root);
  const all = [...files.map((f) => path.resolve(f)), ...targets.flatMap((t) => (t ? [t] : [])), ...relinkable];
  const dirs = new Set(all.map((f) => path.dirname(f)));
  return { dirs: new Map([...dirs].map((d) => [d, identify(d)])), names: new Set([...all.map((f) => path.basename(f)), '..data']) };
}

const fileDirs = (c: FileCredential) => [...new Set(c.files.map((f) => path.dirname(path.resolve(f))))];

const identityOf = (st: Stats) => `${st.dev}:${st.ino}`;

/** At a listener or cluster update, which reads the files synchronously anyway. */
function locateSync(c: FileCredential): Located {
  const targets = c.files.map((f) => {
    try {
      return realpathSync(f);
    } catch {
      return undefined;
    }
  });
  const linked = fileDirs(c).filter((d) => {
    try {
      return lstatSync(d).isSymbolicLink();
    } catch {
      return false;
    }
  });
  return located(c.files, targets, linked, (d) => {
    try {
      return identityOf(statSync(d));
    } catch {
      return undefined;
    }
  });
}

/** Before a reload, off the event loop. */
async function locate(c: FileCredential): Promise<Located> {
  const targets = await Promise.all(c.files.map((f) => realpath(f).catch(() => undefined)));
  const own = fileDirs(c);
  const links = await Promise.all(own.map((d) => lstat(d).then((st) => st.isSymbolicLink(), () => false)));
  const linked = own.filter((_, i) => links[i]);
  const dirs = [...new Set([...own, ...linked.map((d) => path.dirname(d)), ...targets.flatMap((t) => (t ? [path.dirname(t)] : []))])];
  const ids = new Map(await Promise.all(dirs.map(async (d) => [d, await stat(d).then(identityOf, () => undefined)] as const)));
  return located(c.files, targets, linked, (d) => ids.get(d));
}

function same(a: Value | undefined, b: Value | undefined): boolean {
  return a === undefined || b === undefined || typeof a === 'string' || typeof b === 'string' ? a === b : a.cert === b.cert && a.key === b.key;
}
