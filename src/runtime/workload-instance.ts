// The registry's view of a pod the runtime started: what the control plane is told once its app runs.
import type { WorkloadInstance } from '../model/workload.ts';
import type { PlannedWorkload } from './plan.ts';

export interface InstanceAddresses {
  /** `127.0.0.1` in process mode, the pod's own address in netns mode. */
  address: string;
  appPorts: Record<number, number>;
  /** `host:port` of the sidecar's tunnel listener; absent without a sidecar. */
  tunnelAddress?: string;
}

export function workloadInstance(w: PlannedWorkload, a: InstanceAddresses): WorkloadInstance {
  return {
    name: w.name,
    namespace: w.namespace,
    labels: w.labels,
    serviceAccount: w.serviceAccount,
    workload: w.owner.name,
    address: a.address,
    appPorts: a.appPorts,
    ...(a.tunnelAddress ? { tunnelAddress: a.tunnelAddress } : {}),
    healthy: true,
    source: 'deployment',
  };
}
