// The mesh as `status` reads it: the state of one `up` process, a ComponentState per gateway and
// workload, and the one place that writes it to state.json whenever a component changes.
import path from 'node:path';
import type { ControlPlaneHandle } from './control-plane-handle.ts';
import { type ComponentState, type MeshState, writeState } from './state.ts';

export interface ComponentTrackerOptions {
  stateDir: string;
  mode: MeshState['mode'];
  configDirs: string[];
  controlPlane: ControlPlaneHandle;
  /**
   * Where a failed write of state.json is said (a full disk, a read-only state directory): the mesh runs
   * on, as the control plane lives in this process. Without it, a failed write throws.
   */
  progress?: (line: string) => void;
}

export class ComponentTracker {
  readonly state: MeshState;
  #stateDir: string;
  #controlPlane: ComponentState;
  #components: ComponentState[] = [];
  #progress: ((line: string) => void) | undefined;
  #failing = false;

  constructor(o: ComponentTrackerOptions) {
    const cp = o.controlPlane;
    this.#stateDir = o.stateDir;
    this.#progress = o.progress;
    // The control plane runs inside the `up` process itself, so it shares its pid.
    this.#controlPlane = { name: 'control-plane', kind: 'control-plane', pid: process.pid, ports: cp.ports, sidecar: false, status: 'running', restarts: 0 };
    this.state = {
      version: 1,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      marked: true,
      mode: o.mode,
      configDirs: o.configDirs,
      controlPlane: {
        xdsAddress: cp.xdsAddress,
        ...(cp.xdsTlsAddress ? { xdsTlsAddress: cp.xdsTlsAddress } : {}),
        ...(cp.rootCertFile ? { rootCertFile: cp.rootCertFile } : {}),
        debugAddress: cp.debugAddress,
        ...(cp.dashboardUrl ? { dashboardUrl: cp.dashboardUrl } : {}),
      },
      components: [this.#controlPlane],
    };
  }

  /** Tracks one more gateway or workload; the caller updates the returned object and calls `save`. */
  add(component: ComponentState): ComponentState {
    this.#components.push(component);
    return component;
  }

  /** Whether the last save wrote state.json. */
  get saved(): boolean {
    return !this.#failing;
  }

  save(): void {
    this.state.components = [this.#controlPlane, ...this.#components];
    const file = path.join(this.#stateDir, 'state.json');
    try {
      writeState(this.#stateDir, this.state);
    } catch (err) {
      if (!this.#progress) throw err;
      // Said once, not at every change: the next save tries again.
      if (!this.#failing) this.#progress(`warning: cannot write ${file} (${(err as Error).message}); the mesh runs on, but \`outrigger status\` and \`down\` read what was last written until it can`);
      this.#failing = true;
      return;
    }
    if (this.#failing) this.#progress?.(`${file} written again`);
    this.#failing = false;
  }
}
