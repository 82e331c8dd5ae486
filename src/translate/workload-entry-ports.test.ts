// Endpoints of a ServiceEntry that selects WorkloadEntries: the entry's `ports` map, by the service port's
// name, wins over the port's targetPort and number (Istio's convertEndpoint).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { buildProxyResources } from './proxy-resources.ts';

const yaml = `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: app}
spec: {address: 10.0.0.7, labels: {app: vm}, ports: {http: 19080}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-2, namespace: app}
spec: {address: 10.0.0.8, labels: {app: vm}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vm, namespace: app}
spec:
  hosts: [vm.internal]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}, {number: 90, name: http-admin, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: vm}}
`;

const client: ProxyView = {
  id: 'sidecar~10.0.0.1~client-0.app~app.svc.cluster.local',
  role: 'sidecar',
  namespace: 'app',
  workloadName: 'client-0',
  serviceAccount: 'default',
  labels: { app: 'client' },
  ip: '10.0.0.1',
  appPorts: {},
};

function addresses(cluster: string): string[] {
  const { resources, diagnostics } = loadText(yaml);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const cla = buildProxyResources(buildSnapshot(resources, [], '1'), client).get(TypeUrl.ClusterLoadAssignment)?.get(cluster) as unknown as {
    endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[] }[];
  };
  return cla.endpoints.flatMap((l) => l.lb_endpoints.map((e) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`)).sort();
}

test("a WorkloadEntry's port for the service port's name wins over targetPort; without one, targetPort", () => {
  assert.deepEqual(addresses('outbound|80||vm.internal'), ['10.0.0.7:19080', '10.0.0.8:8080']);
});

test('a service port the WorkloadEntry does not name keeps its number', () => {
  assert.deepEqual(addresses('outbound|90||vm.internal'), ['10.0.0.7:90', '10.0.0.8:90']);
});
