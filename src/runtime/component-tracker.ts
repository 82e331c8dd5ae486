// The mesh as `status` reads it: the state of one `up` process, a ComponentState per gateway and
// workload, and the one place that writes it to state.json whenever a component changes.
import type { ControlPlaneHandle } from './control-plane-handle.ts';
import { type ComponentState, type MeshState, writeState } from './state.ts';

export interface ComponentTrackerOptions {
  stateDir: string;
  mode: MeshState['mode'];
  configDirs: string[];
  controlPlane: ControlPlaneHandle;
}

export class ComponentTracker {
  readonly state: MeshState;
  #stateDir: string;
  #controlPlane: ComponentState;
  #components: ComponentState[] = [];

  constructor(o: ComponentTrackerOptions) {
    const cp = o.controlPlane;
    this.#stateDir = o.stateDir;
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

  save(): void {
    this.state.components = [this.#controlPlane, ...this.#components];
    writeState(this.#stateDir, this.state);
  }
}
