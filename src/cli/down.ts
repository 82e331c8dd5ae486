// `outrigger down`: stop the local mesh: its `up` process drains every sidecar and stops every process.
import { type Command, InvalidArgumentError } from 'commander';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { isAlive, leftoverProcesses, markedProcesses, meshOwnerAlive, readState, recordedPids } from '../runtime/state.ts';
import { meshDir, NoMeshError } from './mesh-state.ts';

/** Netns mode: removes namespaces, links and rules an `up` killed before its teardown left behind. */
async function sweepNetns(dir: string): Promise<void> {
  const { sweepRecordedMesh } = await import('../runtime/netns/netns-record.ts');
  const id = await sweepRecordedMesh(dir);
  if (id) console.log(`removed the network namespaces, links and rules of mesh ${id}`);
}

async function waitGone(pid: number, deadlineMs: number): Promise<boolean> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !isAlive(pid);
}

export function define(program: Command): void {
  program
    .command('down')
    .description('stop the running local mesh: its apps, then drain its sidecars and gateways, then the control plane')
    .option('--dir <dir>', 'the state directory of the mesh')
    .option('--timeout <seconds>', 'how long to wait for a graceful stop before killing', seconds, 30)
    .action(async (opts: { dir?: string; timeout: number }) => {
      const dir = meshDir(opts.dir);
      const state = readState(dir);
      if (!state) {
        // An `up` still starting has written no state yet, but holds the directory: stopped all the same.
        const { meshDirHolder } = await import('../runtime/up-lock.ts');
        const starting = meshDirHolder(dir);
        // No state at all: nothing to stop (and no advice to start one, which is not what down asked).
        if (starting === undefined) throw new NoMeshError(`no mesh is running here (no ${dir}/state.json): nothing to stop`);
        console.log(`stopping the mesh, which is still starting (pid ${starting}) ...`);
        process.kill(starting, 'SIGTERM');
        if (await waitGone(starting, opts.timeout * 1000)) return console.log('stopped');
        console.log(`the mesh did not stop within ${opts.timeout}s; killing it`);
        process.kill(starting, 'SIGKILL');
        // What it had started carries the mesh's marker: there is no state to name those processes yet.
        const left = markedProcesses(dir) ?? [];
        for (const pid of left) if (isAlive(pid)) groupLeader(pid) ? signalGroup(pid, 'SIGKILL') : process.kill(pid, 'SIGKILL');
        if (left.length) console.log(`killed ${left.length} process(es) it had started (${left.join(', ')})`);
        process.exitCode = 1;
        return;
      }
      if (!meshOwnerAlive(state)) {
        await stopLeftovers(dir, state, opts.timeout);
        return;
      }
      console.log(`stopping the mesh (pid ${state.pid}) ...`);
      process.kill(state.pid, 'SIGTERM');
      if (await waitGone(state.pid, opts.timeout * 1000)) {
        // Its state still there: it died (a SIGKILL just before) instead of stopping, and left its processes.
        if (readState(dir)?.pid === state.pid) return stopLeftovers(dir, state, opts.timeout);
        if (state.mode === 'netns') await sweepNetns(dir);
        console.log('stopped');
        return;
      }
      console.log(`the mesh did not stop within ${opts.timeout}s; killing what is left`);
      // Only processes known to be this mesh's: its up (checked above), and those carrying its marker.
      for (const pid of [state.pid, ...(leftoverProcesses(dir, state) ?? [])]) {
        if (isAlive(pid)) groupLeader(pid) ? signalGroup(pid, 'SIGKILL') : process.kill(pid, 'SIGKILL');
      }
      if (state.mode === 'netns') await sweepNetns(dir);
      process.exitCode = 1;
    });
}

/**
 * The `up` that owned the mesh is gone (killed with SIGKILL, or crashed) but may have left its
 * processes running: stop those that carry this mesh's marker (a reused pid is left alone), then
 * remove the state so the next `up` starts clean.
 */
async function stopLeftovers(dir: string, state: import('../runtime/state.ts').MeshState, timeoutSeconds: number): Promise<void> {
  const pids = leftoverProcesses(dir, state);
  if (pids === undefined) {
    // No way to tell the mesh's processes from others that reused their pids: say, and keep the state.
    const recorded = recordedPids(state);
    console.log(
      `the mesh recorded in ${dir} is not running (pid ${state.pid} is gone), and its processes cannot be told apart from others here${state.marked ? ' (no /proc)' : ' (it was started by an older Outrigger)'}` +
        (recorded.length ? `; recorded pids still alive: ${recorded.join(', ')}: check them and stop those that are the mesh's` : ''),
    );
    process.exitCode = recorded.length ? 1 : 0;
    if (!recorded.length) rmSync(path.join(dir, 'state.json'), { force: true });
    return;
  }
  if (pids.length === 0) {
    console.log(`the mesh recorded in ${dir} is not running (pid ${state.pid} is gone) and left no process behind`);
  } else {
    console.log(`the mesh's up process (pid ${state.pid}) is gone; stopping the ${pids.length} process(es) it left running: ${pids.join(', ')}`);
    // Each leads a process group of its own (Supervised starts them so): what it started (a shell's
    // `sleep`) is in it, and goes with it. A process of an older Outrigger, without one, goes alone.
    const groups = new Set(pids.filter(groupLeader));
    const signal = (pid: number, s: NodeJS.Signals) => (groups.has(pid) ? signalGroup(pid, s) : process.kill(pid, s));
    for (const pid of pids) signal(pid, 'SIGTERM');
    const gone = await Promise.all(pids.map((pid) => waitGone(pid, timeoutSeconds * 1000)));
    for (const [i, pid] of pids.entries()) if (!gone[i] && isAlive(pid)) signal(pid, 'SIGKILL');
    for (const pid of groups) signalGroup(pid, 'SIGKILL');
  }
  if (state.mode === 'netns') await sweepNetns(dir);
  rmSync(path.join(dir, 'state.json'), { force: true });
  // The claim of an `up` that died holding the directory (none holds it alive here, or its state would be live).
  const { meshDirHolder } = await import('../runtime/up-lock.ts');
  if (meshDirHolder(dir) === undefined) rmSync(path.join(dir, 'up.lock'), { force: true });
  console.log('stopped');
}

/** Whether a process leads its process group (Linux /proc; false where that cannot be read). */
function groupLeader(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pid;
  } catch {
    return false;
  }
}

/** Signals every process of a group (one already empty is nothing to signal). */
function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: all gone
  }
}

/** A number of seconds, 0 or more: anything else would kill the mesh without waiting for its drain. */
function seconds(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number of seconds, 0 or more');
  return n;
}
