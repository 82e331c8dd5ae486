// Shared by the locality tests: a client proxy in us-east/us-east-1a, `api` workloads placed by
// Kubernetes topology labels, and the Istio translation of the test's YAML for that proxy.
import type { ProxyView } from '../../src/model/proxy-view.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';

export const topology = (region: string, zone?: string): Record<string, string> => ({
  'topology.kubernetes.io/region': region,
  ...(zone ? { 'topology.kubernetes.io/zone': zone } : {}),
});

/** An `api` replica in namespace `shop` whose app port 8080 is the test upstream's real port. */
export function apiWorkload(name: string, port: number, labels: Record<string, string>): WorkloadInstance {
  return { name, namespace: 'shop', labels: { app: 'api', ...labels }, serviceAccount: 'api', address: '127.0.0.1', appPorts: { 8080: port }, healthy: true, source: 'deployment' };
}

/** The calling sidecar, `web` in `shop`, in us-east/us-east-1a. */
export const clientView: ProxyView = {
  id: 'sidecar~127.0.0.1~web-0.shop~shop.svc.cluster.local',
  role: 'sidecar',
  namespace: 'shop',
  workloadName: 'web',
  serviceAccount: 'web',
  labels: { app: 'web', ...topology('us-east', 'us-east-1a') },
  ip: '127.0.0.1',
  appPorts: {},
};
