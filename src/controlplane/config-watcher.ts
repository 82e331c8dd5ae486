// Watches directories of YAML (fs.watch on each directory, plus a periodic rescan for file systems where
// events get lost) and hands each added, changed or removed file's load result to the config store.
import { watch, type FSWatcher } from 'node:fs';
import type { Stats } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { LoadResult } from '../config/load.ts';
import { MAX_DEPTH, yamlFile } from '../config/load-paths.ts';
import { IncrementalLoader } from './incremental-load.ts';
import type { Clock, TimerHandle } from './clock.ts';

export interface ConfigWatcherOptions {
  /** Directories (searched recursively) or single files. */
  paths: readonly string[];
  clock: Clock;
  /** Fallback rescan period; 0 disables it. */
  rescanMs?: number;
  /** A file appeared or changed (with its load result) or disappeared (undefined). */
  onFile: (file: string, result: LoadResult | undefined) => void;
  /** After a scan that reported at least one file. */
  onScanned?: (changedFiles: number) => void;
  onError?: (err: Error) => void;
}


/**
 * A file event starts a scan only once events have been quiet this long (and at most MAX_SETTLE_MS after
 * the first): an editor that saves by truncating and then writing would otherwise be read empty in
 * between, and the resources in it dropped, their last good version forgotten with them.
 */
export const SETTLE_MS = 100;
const MAX_SETTLE_MS = 1000;

export class ConfigWatcher {
  #opts: ConfigWatcherOptions;
  #known = new Map<string, string>();
  /** An edited file re-parses only the documents that changed. */
  #loader = new IncrementalLoader();
  /**
   * One fs.watch per directory walked (and per directory of a file named on its own), not one recursive
   * watch: Node's recursive watch on Linux follows each file's inode, so once an editor saves a file by
   * renaming a new one over it, later writes to it go unseen, and so does a file moved in from elsewhere.
   * A directory's own watch sees every name in it change, whatever happened to the inodes.
   */
  #watchers = new Map<string, FSWatcher>();
  #timer: TimerHandle | undefined;
  #scanning: Promise<number> | undefined;
  #settle: TimerHandle | undefined;
  #firstEventAt = 0;
  #again = false;
  #closed = false;

  constructor(opts: ConfigWatcherOptions) {
    this.#opts = opts;
  }

  /** First full scan, then watching (each scan watches the directories it walked). */
  async start(): Promise<void> {
    await this.rescan();
    this.#tick();
  }

  /** Watches each directory in `dirs` not watched yet, and stops watching those that are gone. */
  #watchDirs(dirs: ReadonlySet<string>): void {
    if (this.#closed) return;
    for (const [dir, w] of this.#watchers) {
      if (dirs.has(dir)) continue;
      w.close();
      this.#watchers.delete(dir);
    }
    for (const dir of dirs) {
      if (this.#watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.#onEvent());
        w.on('error', (err) => {
          // Gone meanwhile (deleted, unmounted): the next scan watches it again if it is back.
          w.close();
          if (this.#watchers.get(dir) === w) this.#watchers.delete(dir);
          this.#opts.onError?.(err);
        });
        this.#watchers.set(dir, w);
      } catch (err) {
        this.#opts.onError?.(err as Error);
      }
    }
  }

  /** A scan is running (started by an event, the periodic timer or rescan()). */
  get scanning(): boolean {
    return this.#scanning !== undefined;
  }

  /** Scans every path now; resolves with how many files changed. Concurrent calls coalesce. */
  rescan(): Promise<number> {
    if (this.#scanning) {
      this.#again = true;
      return this.#scanning;
    }
    this.#scanning = (async () => {
      let changed = 0;
      do {
        this.#again = false;
        changed += await this.#scan();
      } while (this.#again && !this.#closed);
      this.#scanning = undefined;
      if (changed > 0) this.#opts.onScanned?.(changed);
      return changed;
    })();
    return this.#scanning;
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#settle?.cancel();
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }

  #onEvent(): void {
    if (this.#closed) return;
    const clock = this.#opts.clock;
    if (this.#settle === undefined) this.#firstEventAt = clock.now();
    else this.#settle.cancel();
    const wait = Math.min(SETTLE_MS, Math.max(0, this.#firstEventAt + MAX_SETTLE_MS - clock.now()));
    this.#settle = clock.setTimer(() => {
      this.#settle = undefined;
      this.#schedule();
    }, wait);
  }

  #schedule(): void {
    if (this.#closed) return;
    void this.rescan().catch((err: Error) => this.#opts.onError?.(err));
  }

  #tick(): void {
    const every = this.#opts.rescanMs ?? 5000;
    if (every <= 0 || this.#closed) return;
    this.#timer = this.#opts.clock.setTimer(() => {
      // Files with events still settling are the settle timer's to scan: a rescan now could read one
      // half-written.
      if (this.#settle === undefined) this.#schedule();
      this.#tick();
    }, every);
  }

  async #scan(): Promise<number> {
    const seen = new Map<string, string>();
    const dirs = new Set<string>();
    for (const p of this.#opts.paths) for (const [file, sig] of await listYaml(p, dirs)) seen.set(file, sig);
    this.#watchDirs(dirs);
    let changed = 0;
    for (const [file, sig] of seen) {
      if (this.#known.get(file) === sig) continue;
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        continue; // removed between listing and reading: the next scan sees it gone
      }
      this.#known.set(file, sig);
      this.#opts.onFile(file, this.#loader.load(text, file));
      changed++;
    }
    for (const file of [...this.#known.keys()]) {
      if (seen.has(file)) continue;
      this.#known.delete(file);
      this.#loader.forget(file);
      this.#opts.onFile(file, undefined);
      changed++;
    }
    return changed;
  }
}

/**
 * YAML files under a path with a change signature (inode, size, mtime), and in `dirs` the directories to
 * watch for them, found as loadPaths finds them
 * (`up` and `analyze` read the same files the control plane serves): names starting with `.` skipped,
 * each real directory walked once (a symlink loop ends there), at most MAX_DEPTH deep.
 */
async function listYaml(p: string, dirs: Set<string>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const seen = new Set<string>();
  const walk = async (file: string, depth: number, named: boolean): Promise<void> => {
    let real: string;
    let s: Stats;
    try {
      real = await realpath(file);
      s = await stat(real);
    } catch {
      return; // gone, or vanished while listing
    }
    if (seen.has(real)) return;
    seen.add(real);
    if (s.isDirectory()) {
      if (depth >= MAX_DEPTH) return;
      dirs.add(real);
      let names: string[];
      try {
        names = (await readdir(real)).sort();
      } catch {
        return;
      }
      for (const name of names) if (!name.startsWith('.')) await walk(path.join(file, name), depth + 1, false);
      return;
    }
    if (s.isFile() && (named || yamlFile.test(file))) {
      out.set(path.resolve(file), `${s.ino}:${s.size}:${s.mtimeMs}`);
      // A file named on its own is watched through its directory: a save that renames over it is seen.
      if (named) dirs.add(path.dirname(real));
    }
  };
  await walk(p, 0, true);
  return out;
}
