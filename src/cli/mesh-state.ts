// Shared by the commands that act on a running local mesh: find its state or explain why there is none.
import { resolveDebugAddress } from '../controlplane/debug-client.ts';
import { leftoverProcesses, type MeshState, meshOwnerAlive, readState, stateDir } from '../runtime/state.ts';
import { meshDirHolder } from '../runtime/up-lock.ts';
import { requireDirectoryIfPresent } from './path-args.ts';

export class NoMeshError extends Error {
  readonly code = 'NO_MESH';
}

/** The state directory `--dir` names (a usage error when it is a file), else this directory's. */
export function meshDir(dir: string | undefined): string {
  if (dir === undefined) return stateDir(process.cwd());
  requireDirectoryIfPresent(dir, '--dir');
  return dir;
}

export function runningMesh(dir?: string): { dir: string; state: MeshState } {
  const d = meshDir(dir);
  const state = readState(d);
  if (!state) {
    // An `up` that has claimed the directory and not yet written its state is starting, not absent.
    const starting = meshDirHolder(d);
    if (starting !== undefined) throw new NoMeshError(`a mesh is starting here (outrigger up, pid ${starting}); it has not written ${d}/state.json yet: try again once it says it is running`);
    // Without --dir: a mesh started with `up --dir` elsewhere is not found here, and starting a second is not the fix.
    const next = dir === undefined ? 'outrigger up -f DIR, or give the --dir of a mesh started with one' : `outrigger up -f DIR${dirFlag(dir)}`;
    throw new NoMeshError(`no mesh is running here (no ${d}/state.json); start one with: ${next}`);
  }
  if (!meshOwnerAlive(state)) {
    const left = leftoverProcesses(d, state);
    const next = left?.length ? `${left.length} of its processes are still running (${left.join(', ')}): stop them with outrigger down${dirFlag(dir)}` : 'start it with: outrigger up -f DIR';
    throw new NoMeshError(`the mesh recorded in ${d}/state.json is not running (pid ${state.pid} is gone); ${next}`);
  }
  return { dir: d, state };
}

/**
 * The control plane's debug API: the `--control-plane` address as given (a standalone `outrigger
 * control-plane` writes no mesh state), else the running mesh's, found as `status` finds it, with its
 * state. Never a default port: what listens there may be another mesh, or nothing of ours.
 */
export function controlPlaneOf(flag: string | undefined, dir: string | undefined): { address: string; state?: MeshState } {
  if (flag) return { address: resolveDebugAddress(flag) };
  const { state } = runningMesh(dir);
  return { address: resolveDebugAddress(state.controlPlane.debugAddress), state };
}

/** ` --dir DIR` when the person gave one, so a command printed for them works as printed. */
export function dirFlag(given: string | undefined): string {
  if (given === undefined) return '';
  return ` --dir ${/\s/.test(given) ? JSON.stringify(given) : given}`;
}
