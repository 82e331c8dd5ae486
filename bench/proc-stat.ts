// CPU time and resident memory of benchmarked processes, read from /proc: the stable metric on a
// noisy VM is CPU per request of the processes under test (see reference/performance-method.md §3.2).
import { readFileSync } from 'node:fs';

/** Kernel clock ticks per second for utime/stime (`getconf CLK_TCK`; 100 on every Linux we run on). */
const ticksPerSecond = 100;

export class ProcStatError extends Error {
  readonly code = 'PROC_STAT';
}

/** User + system CPU of one process (all its threads), in microseconds. */
export function cpuMicros(pid: number): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (cause) {
    throw new ProcStatError(`process ${pid} is gone`, { cause });
  }
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new ProcStatError(`unreadable /proc/${pid}/stat`);
  return ((utime + stime) * 1_000_000) / ticksPerSecond;
}

/** Resident set size in MB (VmRSS). */
export function rssMb(pid: number): number {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(text);
  if (!m) throw new ProcStatError(`no VmRSS for process ${pid}`);
  return Number(m[1]) / 1024;
}

/**
 * Memory only this process holds, in MB (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup). RSS
 * also counts the pages of the program's binary and libraries it touched, which every process running
 * the same binary shares: for a Node process that is about 50 MB of node's own code and data, paid once
 * per machine however many sidecars run.
 */
export function privateMb(pid: number): number {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN);
  const kb = field('Private_Clean') + field('Private_Dirty');
  if (!Number.isFinite(kb)) throw new ProcStatError(`no private memory in /proc/${pid}/smaps_rollup`);
  return kb / 1024;
}

/** CPU of a named group of processes over one run: `const stop = cpuWindow(pids); ...; stop()`. */
export function cpuWindow(pids: readonly number[]): () => number {
  const before = pids.map(cpuMicros);
  return () => pids.reduce((sum, pid, i) => sum + cpuMicros(pid) - (before[i] ?? 0), 0);
}
