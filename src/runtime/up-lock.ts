// One `up` per state directory: the first claims it (`up.lock`, created exclusively) before it starts
// anything, so a second `up` started at the same moment, before either has written state.json, is refused
// instead of starting a second mesh over the first's state.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isAlive, processStartMs } from './state.ts';

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

/** The pid of the live `up` that holds `dir` (another process than this one), if any. */
export function meshDirHolder(dir: string): number | undefined {
  const holder = readHolder(path.join(dir, LOCK));
  if (!holder || holder.pid === process.pid || !isAlive(holder.pid)) return undefined;
  const started = processStartMs(holder.pid);
  if (holder.startMs !== undefined && started !== undefined && Math.abs(started - holder.startMs) > 1000) return undefined;
  return holder.pid;
}

/** Claims `dir` for this process; the pid of the live `up` that holds it instead, if one does. */
export function claimMeshDir(dir: string): { claimed: true } | { claimed: false; pid: number } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, LOCK);
  const line = `${process.pid} ${processStartMs(process.pid) ?? ''}`.trim();
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, `${line}\n`, { flag: 'wx', mode: 0o600 });
      return { claimed: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = meshDirHolder(dir);
      if (pid !== undefined) return { claimed: false, pid };
      // Left by an `up` that died: take it over.
      rmSync(file, { force: true });
    }
  }
  throw new Error(`cannot claim ${dir} for this mesh: ${file} keeps coming back`);
}

/** Gives `dir` up, if this process holds it. */
export function releaseMeshDir(dir: string): void {
  const file = path.join(dir, LOCK);
  if (readHolder(file)?.pid === process.pid) rmSync(file, { force: true });
}
