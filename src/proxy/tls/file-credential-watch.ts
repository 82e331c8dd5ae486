// Certificates named by file (a gateway's, and a DestinationRule's for TLS origination), kept current as
// istio-agent's SDS server keeps them (security/pkg/nodeagent/cache/secretcache.go: addFileWatcher,
// handleFileWatch): a changed file is read again off the event loop and, once it holds a usable
// credential, used by new handshakes; until then, and if it never does, the last good one stays.
import { type FSWatcher, watch } from 'node:fs';
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
  #dirs = new Map<string, { watcher: FSWatcher; ids: Set<string> }>();

  constructor(deps: FileWatchDeps) {
    this.#deps = deps;
  }

  /**
   * The credentials the listeners and clusters name now, with what their compile read: new ones are
   * watched, and those nothing names any more are closed. One already held keeps its last good value; a compile
   * that read something else counts as a change (a missed event, or a bad file read again), and a watch
   * that could not start or has ended is started again, as istio-agent retries adding a watch.
   */
  hold(credentials: readonly { credential: FileCredential; value: Value }[]): void {
    const next = new Map(credentials.map((c) => [c.credential.id, c]));
    for (const [id, c] of next) {
      for (const dir of dirsOf(c.credential)) if (!this.#dirs.get(dir)?.ids.has(id)) this.#watchDir(dir, id);
      const h = this.#held.get(id);
      if (!h) this.#held.set(id, { credential: c.credential, value: c.value, retrying: false, reading: false, again: false, waited: 0, delay: FILE_DEBOUNCE_MS });
      else if (!same(h.value, c.value)) this.#schedule(h);
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

  #watchDir(dir: string, id: string): void {
    const held = this.#dirs.get(dir);
    if (held) {
      held.ids.add(id);
      return;
    }
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, () => this.#onEvent(dir));
    } catch (err) {
      this.#deps.warn(`cannot watch ${dir} (${(err as NodeJS.ErrnoException).code ?? 'error'}): its certificates are read again at the next listener or cluster update`);
      return;
    }
    // Its certificates keep their last value; the next listener or cluster update watches the directory again.
    watcher.on('error', (err: NodeJS.ErrnoException) => {
      this.#deps.warn(`watch of ${dir} ended (${err.code ?? 'error'}): its certificates are read again at the next listener or cluster update`);
      watcher.close();
      if (this.#dirs.get(dir)?.watcher === watcher) this.#dirs.delete(dir);
    });
    this.#dirs.set(dir, { watcher, ids: new Set([id]) });
  }

  #drop(id: string, h: Held): void {
    this.#held.delete(id);
    if (h.timer !== undefined) this.#deps.timers.clear(h.timer);
    for (const dir of dirsOf(h.credential)) {
      const d = this.#dirs.get(dir);
      if (!d?.ids.delete(id) || d.ids.size > 0) continue;
      d.watcher.close();
      this.#dirs.delete(dir);
    }
  }

  /**
   * Any name changing in a watched directory reads its credentials again: a symlinked file's content
   * changes with no event of its own name. An unchanged read changes nothing.
   */
  #onEvent(dir: string): void {
    for (const id of this.#dirs.get(dir)?.ids ?? []) {
      const h = this.#held.get(id);
      if (h) this.#schedule(h);
    }
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
    let value: Value | undefined;
    let error: unknown;
    try {
      value = await h.credential.load();
    } catch (err) {
      error = err;
    }
    h.reading = false;
    if (this.#held.get(h.credential.id) !== h) return;
    if (h.again) {
      h.again = false;
      this.#schedule(h);
      return;
    }
    if (value !== undefined) {
      h.retrying = false;
      if (same(value, h.value)) return;
      h.value = value;
      this.#deps.onChange();
      return;
    }
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

function dirsOf(c: FileCredential): Set<string> {
  return new Set(c.files.map((f) => path.dirname(path.resolve(f))));
}

function same(a: Value, b: Value): boolean {
  return typeof a === 'string' || typeof b === 'string' ? a === b : a.cert === b.cert && a.key === b.key;
}
