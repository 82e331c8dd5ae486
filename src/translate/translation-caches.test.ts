// The caches inside translation (per snapshot, per rule, per workload) never leak one snapshot's answer
// into another's: a changed rule, workload or retry setting shows up in the next translation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import type { WorkloadInstance } from '../model/workload.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { buildProxyResources } from './proxy-resources.ts';

const proxy: ProxyView = { id: 'sidecar~127.0.0.1~client-0.shop~shop.svc.cluster.local', role: 'sidecar', namespace: 'shop', workloadName: 'client', serviceAccount: 'client', labels: { app: 'client' }, ip: '127.0.0.1', appPorts: {} };
const cluster = 'outbound|8080|v1|api.shop.svc.cluster.local';

function mesh(maxConnections: number, attempts: number): string {
  return `apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec: { selector: { app: api }, ports: [{ name: http, port: 8080 }] }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: api, namespace: shop }
spec: { host: api, trafficPolicy: { connectionPool: { tcp: { maxConnections: ${maxConnections} } } }, subsets: [{ name: v1, labels: { v: v1 } }] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api, namespace: shop }
spec: { hosts: [api], http: [{ route: [{ destination: { host: api, subset: v1 } }], retries: { attempts: ${attempts} } }] }`;
}

function workload(serviceAccount: string, port: number): WorkloadInstance {
  return { name: 'api-0', namespace: 'shop', labels: { app: 'api', v: 'v1' }, serviceAccount, address: '127.0.0.1', appPorts: {}, tunnelAddress: `127.0.0.1:${port}`, healthy: true, source: 'deployment' };
}

function translate(maxConnections: number, attempts: number, w: WorkloadInstance): string {
  const out = buildProxyResources(buildSnapshot(loadText(mesh(maxConnections, attempts)).resources, [w], '1'), proxy);
  return JSON.stringify([out.get(TypeUrl.Cluster)?.get(cluster), out.get(TypeUrl.ClusterLoadAssignment)?.get(cluster), out.get(TypeUrl.RouteConfiguration)?.get('8080')]);
}

test('a new snapshot gets its own policies, SANs, endpoints and retry policies', () => {
  const first = translate(100, 3, workload('api', 41001));
  assert.match(first, /"max_connections":\{"value":100\}/);
  assert.match(first, /spiffe:\/\/cluster.local\/ns\/shop\/sa\/api"/);
  assert.match(first, /"port_value":41001/);
  assert.match(first, /"num_retries":\{"value":3\}/);
  const second = translate(7, 5, workload('api-v2', 41002));
  assert.match(second, /"max_connections":\{"value":7\}/);
  assert.match(second, /sa\/api-v2"/);
  assert.doesNotMatch(second, /sa\/api"/);
  assert.match(second, /"port_value":41002/);
  assert.match(second, /"num_retries":\{"value":5\}/);
});

test('translating the same proxy again on one snapshot gives the same output', () => {
  const snapshot = buildSnapshot(loadText(mesh(100, 3)).resources, [workload('api', 41001)], '1');
  const dump = () => JSON.stringify([...buildProxyResources(snapshot, proxy)].map(([t, m]) => [t, [...m.entries()]]));
  assert.equal(dump(), dump());
});
