// Where the service proxy (kube-proxy's stand-in) sends a Service's connections: its own pods only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { buildSnapshot } from '../../model/snapshot.ts';
import type { WorkloadInstance } from '../../model/workload.ts';
import { ServiceEndpoints } from './service-endpoints.ts';

test('a ServiceEntry of the Service’s host in its namespace adds its workloads to the mesh’s endpoints, not to kube-proxy’s', () => {
  const pod: WorkloadInstance = { name: 'pay-0', namespace: 'pay', labels: { app: 'pay' }, serviceAccount: 'pay', address: '10.2.0.2', appPorts: {}, healthy: true, source: 'deployment' };
  const vm: WorkloadInstance = { ...pod, name: 'vm-0', labels: { app: 'vm' }, address: '10.3.0.3' };
  const { resources } = loadText(`apiVersion: v1
kind: Service
metadata: {name: pay, namespace: pay}
spec: {selector: {app: pay}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vm, namespace: pay}
spec: {hosts: [pay.pay.svc.cluster.local], location: MESH_INTERNAL, resolution: STATIC, ports: [{number: 80, name: http, protocol: HTTP}], workloadSelector: {labels: {app: vm}}}
`);
  const snapshot = buildSnapshot(resources, [pod, vm], '1');
  assert.deepEqual(snapshot.endpointsByService.get('pay/pay.pay.svc.cluster.local')?.map((w) => w.name), ['pay-0', 'vm-0']);
  const endpoints = new ServiceEndpoints(() => snapshot);
  const picked = [0, 1, 2].map(() => {
    const r = endpoints.resolve('pay.pay', 80, 'other');
    return r.kind === 'service' ? r.endpoint.pod : r.kind;
  });
  assert.deepEqual(picked, ['pay/pay-0', 'pay/pay-0', 'pay/pay-0']);
});
