// Certificates named by file (a gateway's, and a DestinationRule's for TLS origination), kept current as
// istio-agent's SDS server keeps them (security/pkg/nodeagent/cache/secretcache.go: addFileWatcher,
// handleFileWatch): a changed file is read again off the event loop and, once it holds a usable
// credential, used by new handshakes; until then, and if it never does, the last good one stays.
import { type FSWatcher, realpathSync, type Stats, statSync, watch } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
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

type Value = KeyPairPem | string;

interface Held {
  readonly credential: FileCredential;
  /** The last good value: the one read when the listener arrived, or since. */
  value: Value;
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

  constructor(deps: FileWatchDeps) {
    this.#deps = deps;
  }

  /**
   * The credentials the listeners and clusters name now, with what their compile read: new ones are
   * watched, and those nothing names any more are closed. One already held keeps its last good value; a compile
   * that read something else counts as a change (a missed event, or a bad file read again), and a watch
   * that could not start, has ended or watches a directory since replaced is started again, as
   * istio-agent retries adding a watch.
   */
  hold(credentials: readonly { credential: FileCredential; value: Value }[]): void {
    const next = new Map(credentials.map((c) => [c.credential.id, c]));
    for (const [id, c] of next) {
      let h = this.#held.get(id);
      if (!h) {
        h = { credential: c.credential, value: c.value, dirs: new Set(), names: new Set(), retrying: false, reading: false, again: false, waited: 0, delay: FILE_DEBOUNCE_MS };
        this.#held.set(id, h);
      } else if (!same(h.value, c.value)) this.#schedule(h);
      this.#follow(h, locateSync(c.credential), true);
    }
    for (const [id, h] of this.#held) if (!next.has(id)) this.#drop(id, h);
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
      else this.#watchDir(dir, new Set([id]), identity, loud);
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
      if (loud) this.#deps.warn(`cannot watch ${dir} (${(err as NodeJS.ErrnoException).code ?? 'error'}): its certificates are read again at the next listener or cluster update`);
      return;
    }
    // Its certificates keep their last value; their next read or the next listener or cluster update watches the directory again.
    watcher.on('error', (err: NodeJS.ErrnoException) => {
      this.#deps.warn(`watch of ${dir} ended (${err.code ?? 'error'}): its certificates are read again at the next listener or cluster update`);
      watcher.close();
      if (this.#dirs.get(dir)?.watcher === watcher) this.#dirs.delete(dir);
    });
    this.#dirs.set(dir, { watcher, ids, identity, gone: false });
  }

  #release(dir: string, id: string): void {
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
    this.#deps.warn(`${error instanceof Error ? error.message : String(error)} after a change: the last good certificate is served`);
  }
}

/** Where the files are, from their resolved targets (undefined: not there) and each directory's identity. */
function located(files: readonly string[], targets: readonly (string | undefined)[], identify: (dir: string) => string | undefined): Located {
  const all = [...files.map((f) => path.resolve(f)), ...targets.flatMap((t) => (t ? [t] : []))];
  const dirs = new Set(all.map((f) => path.dirname(f)));
  return { dirs: new Map([...dirs].map((d) => [d, identify(d)])), names: new Set([...all.map((f) => path.basename(f)), '..data']) };
}

const identity = (st: Stats) => `${st.dev}:${st.ino}`;

/** At a listener or cluster update, which reads the files synchronously anyway. */
function locateSync(c: FileCredential): Located {
  const targets = c.files.map((f) => {
    try {
      return realpathSync(f);
    } catch {
      return undefined;
    }
  });
  return located(c.files, targets, (d) => {
    try {
      return identity(statSync(d));
    } catch {
      return undefined;
    }
  });
}

/** Before a reload, off the event loop. */
async function locate(c: FileCredential): Promise<Located> {
  const targets = await Promise.all(c.files.map((f) => realpath(f).catch(() => undefined)));
  const dirs = [...new Set([...c.files.map((f) => path.dirname(path.resolve(f))), ...targets.flatMap((t) => (t ? [path.dirname(t)] : []))])];
  const ids = new Map(await Promise.all(dirs.map(async (d) => [d, await stat(d).then(identity, () => undefined)] as const)));
  return located(c.files, targets, (d) => ids.get(d));
}

function same(a: Value, b: Value): boolean {
  return typeof a === 'string' || typeof b === 'string' ? a === b : a.cert === b.cert && a.key === b.key;
}
