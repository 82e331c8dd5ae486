// A sidecar's inbound ports and where their clusters deliver: ServiceEntries that select the workload
// count as Kubernetes Services do (Istio's GetProxyServiceTargets over both registries), and a Sidecar
// ingress listener's defaultEndpoint names the app's address and port (buildInboundClustersFromSidecar).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { buildProxyScope } from '../model/proxy-scope.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot, type MeshSnapshot } from '../model/snapshot.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { inboundPorts } from './listener-inbound.ts';
import { buildProxyResources, type TranslationMemo } from './proxy-resources.ts';

const db: ProxyView = { id: 'sidecar~10.0.0.5~db-0.shop~shop.svc.cluster.local', role: 'sidecar', namespace: 'shop', workloadName: 'db', serviceAccount: 'db', labels: { app: 'db' }, ip: '10.0.0.5', appPorts: {}, tunnelAddress: '10.0.0.5:15008' };

function snap(yaml: string): MeshSnapshot {
  const { resources, diagnostics } = loadText(yaml, 'input.yaml');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  return buildSnapshot(resources, [], '1');
}

const entry = (location: string, protocol = 'TCP') => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: shop}
spec:
  hosts: [db.shop.internal]
  addresses: [10.10.0.5]
  location: ${location}
  resolution: STATIC
  ports: [{number: 5432, name: tcp, protocol: ${protocol}, targetPort: 15432}]
  workloadSelector: {labels: {app: db}}
`;

test('a workload selected only by a ServiceEntry gets an inbound port and cluster for its target port', () => {
  const s = snap(entry('MESH_INTERNAL'));
  assert.deepEqual(inboundPorts(s, buildProxyScope(s, db)), [{ port: 15432, protocol: 'TCP', operation: 'db.shop.internal:5432/*' }]);
  assert.ok(buildProxyResources(s, db).get(TypeUrl.Cluster)?.has('inbound|15432||'));
});

test('the ServiceEntry location does not matter: Istio takes every registry the workload is a target of', () => {
  const s = snap(entry('MESH_EXTERNAL'));
  assert.deepEqual(inboundPorts(s, buildProxyScope(s, db)).map((p) => p.port), [15432]);
});

test('a Kubernetes Service to the same target port decides its protocol ahead of a ServiceEntry (Kubernetes registry first)', () => {
  const s = snap(`${entry('MESH_INTERNAL', 'HTTP')}---
apiVersion: v1
kind: Service
metadata: {name: zz-db, namespace: shop}
spec: {selector: {app: db}, ports: [{name: tcp-pg, port: 5432, targetPort: 15432}]}
`);
  assert.deepEqual(inboundPorts(s, buildProxyScope(s, db)), [{ port: 15432, protocol: 'TCP', operation: 'zz-db.shop.svc.cluster.local:5432/*' }]);
});

const sidecar = (defaultEndpoint: string) => `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: db, namespace: shop}
spec:
  workloadSelector: {labels: {app: db}}
  ingress: [{port: {number: 9080, protocol: HTTP, name: http}${defaultEndpoint ? `, defaultEndpoint: "${defaultEndpoint}"` : ''}}]
`;

function appAddress(s: MeshSnapshot, proxy: ProxyView = db, memo?: TranslationMemo): unknown {
  const c = buildProxyResources(s, proxy, undefined, memo).get(TypeUrl.Cluster)?.get('inbound|9080||') as unknown as {
    load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: unknown } } }[] }[] };
  };
  return c.load_assignment.endpoints[0]?.lb_endpoints[0]?.endpoint.address.socket_address;
}

test('ingress defaultEndpoint 127.0.0.1:PORT: the inbound cluster delivers to the loopback on that port', () => {
  const s = snap(sidecar('127.0.0.1:8080'));
  assert.deepEqual(appAddress(s), { address: '127.0.0.1', port_value: 8080 });
  // In process mode the port is a container port like any other: the app's own port stands for it.
  assert.deepEqual(appAddress(s, { ...db, ip: '127.0.0.1', appPorts: { 8080: 41080 } }), { address: '127.0.0.1', port_value: 41080 });
});

test('ingress defaultEndpoint 0.0.0.0:PORT: the workload address, each replica its own', () => {
  const s = snap(sidecar('0.0.0.0:8080'));
  assert.deepEqual(appAddress(s), { address: '10.0.0.5', port_value: 8080 });
  // Replicas of one workload share a translation unless it reads their address.
  const cache = new Map<string, unknown>();
  const memo: TranslationMemo = {
    once<T>(key: string, build: () => T): T {
      if (!cache.has(key)) cache.set(key, build());
      return cache.get(key) as T;
    },
  };
  assert.deepEqual(appAddress(s, db, memo), { address: '10.0.0.5', port_value: 8080 });
  assert.deepEqual(appAddress(s, { ...db, id: 'sidecar~10.0.0.6~db-1.shop~shop.svc.cluster.local', ip: '10.0.0.6' }, memo), { address: '10.0.0.6', port_value: 8080 });
});

test('without a defaultEndpoint, or with a unix one (OR1045), the port is delivered to the loopback on itself', () => {
  assert.deepEqual(appAddress(snap(sidecar(''))), { address: '127.0.0.1', port_value: 9080 });
  const { diagnostics } = loadText(sidecar('unix:///var/run/app.sock'), 'input.yaml');
  assert.deepEqual(diagnostics.map((d) => [d.code, d.severity, d.field]), [['OR1045', 'warning', 'spec.ingress[0].defaultEndpoint']]);
  assert.deepEqual(appAddress(snap(sidecar('unix:///var/run/app.sock'))), { address: '127.0.0.1', port_value: 9080 });
});
