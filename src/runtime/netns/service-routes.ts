// What kube-proxy would do for a pod without a sidecar: a connection to a service address and port goes
// to one of the service's pods (its address and target port). Pure: from the plan and pod addresses.
import type { Service } from '../../config/resource.ts';
import type { PlannedWorkload } from '../plan.ts';

export interface ServiceRoute {
  serviceAddress: string;
  port: number;
  backends: { address: string; port: number }[];
}

function targetPortOf(w: PlannedWorkload, target: number | string | undefined, port: number): number | undefined {
  if (target === undefined) return port;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  for (const c of w.containers) for (const p of c.ports ?? []) if (p.name === target) return p.containerPort;
  return undefined;
}

export function buildServiceRoutes(
  services: readonly Service[],
  workloads: readonly { workload: PlannedWorkload; address: string }[],
  serviceAddress: (service: string, namespace: string) => string,
): ServiceRoute[] {
  const routes: ServiceRoute[] = [];
  for (const svc of services) {
    const selector = svc.spec.selector;
    if (!selector || Object.keys(selector).length === 0) continue;
    const members = workloads.filter(
      ({ workload: w }) => w.namespace === svc.metadata.namespace && Object.entries(selector).every(([k, v]) => w.labels[k] === v),
    );
    for (const p of svc.spec.ports ?? []) {
      if ((p.protocol ?? 'TCP') !== 'TCP') continue;
      const backends = members.flatMap(({ workload, address }) => {
        const port = targetPortOf(workload, p.targetPort, p.port);
        return port === undefined ? [] : [{ address, port }];
      });
      routes.push({ serviceAddress: serviceAddress(svc.metadata.name, svc.metadata.namespace), port: p.port, backends });
    }
  }
  return routes;
}
