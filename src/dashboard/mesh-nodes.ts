// The workloads and services the dashboard draws even when idle: from the snapshot's registry and the
// proxies connected to the control plane, keyed the way Istio's metric labels name them.
import type { MeshSnapshot } from '../model/snapshot.ts';
import type { WorkloadInstance } from '../model/workload.ts';
import type { AdsConnection } from '../xds/ads-server.ts';

export interface WorkloadSummary {
  name: string;
  namespace: string;
  app?: string;
  version?: string;
  instances: number;
  healthyInstances: number;
  /** A proxy of this workload is connected to the control plane. */
  sidecar: boolean;
}

export const workloadId = (namespace: string, name: string): string => `workload:${namespace}/${name}`;
export const serviceId = (namespace: string, name: string): string => `service:${namespace}/${name}`;

/**
 * Istio's `destination_workload` of an instance: the Deployment's name, not the replica's. A replica
 * names its workload (WORKLOAD_NAME) however it registered, a gateway's proxy announcing its own pod
 * included; a WorkloadEntry has none and is its own.
 */
export function workloadOf(instance: WorkloadInstance): string {
  if (instance.workload) return instance.workload;
  return instance.source === 'deployment' ? instance.name.replace(/-\d+$/, '') : instance.name;
}

export function meshWorkloads(snapshot: MeshSnapshot, connections: readonly AdsConnection[]): Map<string, WorkloadSummary> {
  const out = new Map<string, WorkloadSummary>();
  const entry = (namespace: string, name: string, labels: Record<string, string>): WorkloadSummary => {
    const id = workloadId(namespace, name);
    let w = out.get(id);
    if (!w) {
      w = { name, namespace, instances: 0, healthyInstances: 0, sidecar: false };
      const app = labels['app'] ?? labels['app.kubernetes.io/name'];
      const version = labels['version'] ?? labels['app.kubernetes.io/version'];
      if (app) w.app = app;
      if (version) w.version = version;
      out.set(id, w);
    }
    return w;
  };
  for (const inst of snapshot.workloads) {
    const w = entry(inst.namespace, workloadOf(inst), inst.labels);
    w.instances++;
    if (inst.healthy) w.healthyInstances++;
  }
  for (const c of connections) {
    const v = c.node.view;
    if (c.node.generator === 'grpc' || !v.workloadName) continue;
    entry(v.namespace, v.workloadName, v.labels).sidecar = true;
  }
  return out;
}
