// One `up` per state directory: the first claims it (`up.lock`, created exclusively) before it starts
// anything, so a second `up` started at the same moment, before either has written state.json, is refused
// instead of starting a second mesh over the first's state.
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { isAlive, processStartMs } from './state.ts';
import { makePrivateDir, writeNewFile } from './write-atomic.ts';

const LOCK = 'up.lock';

interface Holder {
  pid: number;
  /** When that process started (Linux), so a pid reused since is not taken for it. */
  startMs?: number;
}

function readHolder(file: string): Holder | undefined {
  try {
    const [pid, startMs] = readFileSync(file, 'utf8').trim().split(' ').map(Number);
    if (!pid || !Number.isInteger(pid)) return undefined;
    return { pid, ...(startMs !== undefined && Number.isFinite(startMs) ? { startMs } : {}) };
  } catch {
    return undefined;
  }
}

/** The holder's pid if it is still the process that wrote the lock (a pid reused since is not). */
function liveHolder(holder: Holder): number | undefined {
  if (!isAlive(holder.pid)) return undefined;
  const started = processStartMs(holder.pid);
  if (holder.startMs !== undefined && started !== undefined && Math.abs(started - holder.startMs) > 1000) return undefined;
  return holder.pid;
}

/** The pid of the live `up` that holds `dir` (another process than this one), if any. */
export function meshDirHolder(dir: string): number | undefined {
  const holder = readHolder(path.join(dir, LOCK));
  if (!holder || holder.pid === process.pid) return undefined;
  return liveHolder(holder);
}

/**
 * Removes a lock that an `up` which died left behind, unless another `up` has taken it over since it
 * was judged stale (two `up`s finding the same stale lock at once): the lock is renamed aside, which is
 * atomic, and read again there; one that turns out live is put back. The live holder's pid if so.
 */
export function removeStaleLock(file: string): number | undefined {
  const aside = `${file}.${process.pid}.stale`;
  try {
    renameSync(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const moved = readHolder(aside);
    // This process's own lock (an earlier claim in it) is this process's to take again.
    const live = moved && moved.pid !== process.pid ? liveHolder(moved) : undefined;
    if (live === undefined) return undefined;
    // Only a third `up` claiming in the same instant could have taken the name meanwhile; it then holds.
    try {
      linkSync(aside, file);
    } catch {}
    return live;
  } finally {
    rmSync(aside, { force: true });
  }
}

/** Codes of a file system that cannot make hard links (some network and FUSE file systems). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * `file` as a hard link to the whole `written`. A file system without hard links is refused with the
 * fix, rather than claimed some way that two `up`s starting at once could both win.
 */
function linkOrCreate(written: string, file: string): void {
  try {
    linkSync(written, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (!NO_HARD_LINKS.has(code)) throw err;
    throw Object.assign(new Error(`cannot claim ${path.dirname(file)} for this mesh: its file system makes no hard links (${code}), which up.lock needs; give --dir a directory on a local file system`), { code: 'UP_LOCK_NO_LINKS', cause: err });
  }
}

/** Claims `dir` for this process; the pid of the live `up` that holds it instead, if one does. */
export function claimMeshDir(dir: string): { claimed: true } | { claimed: false; pid: number } {
  // Made 0700, or refused when one already there is a symlink, another user's, or writable by others.
  makePrivateDir(dir);
  const file = path.join(dir, LOCK);
  // Written whole first, then linked into place (atomic, and refused if the lock exists): another `up`
  // never reads a lock that exists but is still empty, which it would take for a dead one's. Its own
  // file is created afresh under a random name, never through a symlink found there.
  const mine = `${file}.${process.pid}.${randomBytes(6).toString('hex')}`;
  writeNewFile(mine, `${process.pid} ${processStartMs(process.pid) ?? ''}`.trim() + '\n', { mode: 0o600, fsync: false });
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkOrCreate(mine, file);
        return { claimed: true };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = meshDirHolder(dir) ?? removeStaleLock(file);
        if (pid !== undefined) return { claimed: false, pid };
      }
    }
  } finally {
    rmSync(mine, { force: true });
  }
  throw new Error(`cannot claim ${dir} for this mesh: ${file} keeps coming back`);
}

/** Gives `dir` up, if this process holds it. */
export function releaseMeshDir(dir: string): void {
  const file = path.join(dir, LOCK);
  if (readHolder(file)?.pid === process.pid) rmSync(file, { force: true });
}
