// A running mesh's state (`.outrigger/state.json`) for CLI and runtime tests: owned by this process, so
// commands that check the owner is alive accept it.
import type { ComponentState, MeshState } from '../src/runtime/state.ts';

/** A component as `up` records it: running, no restarts, no ports unless given. */
export function component(name: string, kind: ComponentState['kind'], extra: Partial<ComponentState> = {}): ComponentState {
  const slash = name.indexOf('/');
  return { name, kind, ...(slash > 0 ? { namespace: name.slice(0, slash) } : {}), ports: {}, sidecar: kind === 'workload', status: 'running', restarts: 0, ...extra };
}

export function meshState(components: readonly ComponentState[], extra: Partial<MeshState> = {}): MeshState {
  return { version: 1, pid: process.pid, startedAt: '', mode: 'process', configDirs: [], controlPlane: { xdsAddress: '', debugAddress: '' }, components: [...components], ...extra };
}
