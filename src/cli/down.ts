// `outrigger down`: stop the local mesh: its `up` process drains every sidecar and stops every process.
import { type Command, InvalidArgumentError } from 'commander';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { isAlive, leftoverProcesses, meshOwnerAlive, readState, recordedPids } from '../runtime/state.ts';
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
      // No state at all: nothing to stop (and no advice to start one, which is not what down asked).
      if (!state) throw new NoMeshError(`no mesh is running here (no ${dir}/state.json): nothing to stop`);
      if (!meshOwnerAlive(state)) {
        await stopLeftovers(dir, state, opts.timeout);
        return;
      }
      console.log(`stopping the mesh (pid ${state.pid}) ...`);
      process.kill(state.pid, 'SIGTERM');
      if (await waitGone(state.pid, opts.timeout * 1000)) {
        if (state.mode === 'netns') await sweepNetns(dir);
        console.log('stopped');
        return;
      }
      console.log(`the mesh did not stop within ${opts.timeout}s; killing what is left`);
      // Only processes known to be this mesh's: its up (checked above), and those carrying its marker.
      for (const pid of [state.pid, ...(leftoverProcesses(dir, state) ?? [])]) {
        if (isAlive(pid)) process.kill(pid, 'SIGKILL');
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
    for (const pid of pids) process.kill(pid, 'SIGTERM');
    const gone = await Promise.all(pids.map((pid) => waitGone(pid, timeoutSeconds * 1000)));
    for (const [i, pid] of pids.entries()) if (!gone[i] && isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  if (state.mode === 'netns') await sweepNetns(dir);
  rmSync(path.join(dir, 'state.json'), { force: true });
  console.log('stopped');
}

/** A number of seconds, 0 or more: anything else would kill the mesh without waiting for its drain. */
function seconds(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number of seconds, 0 or more');
  return n;
}
