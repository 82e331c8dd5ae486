// Shared by the commands that act on a running local mesh: find its state or explain why there is none.
import { isAlive, type MeshState, readState, stateDir } from '../runtime/state.ts';

export class NoMeshError extends Error {
  readonly code = 'NO_MESH';
}

export function runningMesh(dir?: string): { dir: string; state: MeshState } {
  const d = dir ?? stateDir(process.cwd());
  const state = readState(d);
  if (!state) throw new NoMeshError(`no mesh is running here (no ${d}/state.json); start one with: outrigger up -f DIR`);
  if (!isAlive(state.pid)) throw new NoMeshError(`the mesh recorded in ${d}/state.json is not running (pid ${state.pid} is gone); start it with: outrigger up -f DIR`);
  return { dir: d, state };
}
