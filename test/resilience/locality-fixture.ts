// Shared by the locality tests: a client proxy in us-east/us-east-1a, `api` workloads placed by
// Kubernetes topology labels, and the Istio translation of the test's YAML for that proxy.
import assert from 'node:assert/strict';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import { buildProxyResources, type ProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';

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

/** Service `api` in `shop`, port 80 to the app's 8080: what each test's DestinationRule applies to. */
export const apiServiceYaml = `
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec:
  selector: { app: api }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
`;

export const apiCluster = 'outbound|80||api.shop.svc.cluster.local';

/** `yaml` (valid, or the test fails here) translated for the client with these workloads: api's cluster and assignment. */
export function translateForClient(yaml: string, workloads: WorkloadInstance[]): { translated: ProxyResources; cluster: TypedAny; cla: TypedAny } {
  const { resources, diagnostics } = loadText(yaml, 'input.yaml');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const translated = buildProxyResources(buildSnapshot(resources, workloads, '1'), clientView);
  return {
    translated,
    cluster: translated.get(TypeUrl.Cluster)?.get(apiCluster) as TypedAny,
    cla: translated.get(TypeUrl.ClusterLoadAssignment)?.get(apiCluster) as TypedAny,
  };
}
