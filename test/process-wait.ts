// Waiting on processes in tests: whether one runs, and a bounded poll for what a signal brings about
// (a killed process dies when the kernel gets to it).
import { readFileSync } from 'node:fs';

/** Whether a process runs (a zombie waiting for its parent to reap it does not). Linux: reads /proc. */
export function running(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return false;
  }
}

/** Polls every 10 ms until `ok` holds; throws naming `what` after 5 s. */
export async function until(what: string, ok: () => boolean): Promise<void> {
  for (const stop = Date.now() + 5000; !ok(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() > stop) throw new Error(`${what} not within 5 s`);
  }
}
