import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { hostAliases, hostMatches, resolveHost } from './host.ts';
import { kubernetesPortProtocol } from './protocol.ts';
import { buildProxyScope, isExportedTo } from './proxy-scope.ts';
import type { ProxyView } from './proxy-view.ts';
import { buildSnapshot, lookupService } from './snapshot.ts';

test('port protocol follows appProtocol, then the name prefix', () => {
  const cases: [Parameters<typeof kubernetesPortProtocol>[0], string][] = [
    [{ name: 'http' }, 'HTTP'],
    [{ name: 'http-web' }, 'HTTP'],
    [{ name: 'http2' }, 'HTTP2'],
    [{ name: 'grpc-api' }, 'GRPC'],
    [{ name: 'tcp-redis' }, 'TCP'],
    [{ name: 'https' }, 'HTTPS'],
    [{ name: 'mongo' }, 'MONGO'],
    [{ name: 'web' }, 'auto'],
    [{ name: 'web', appProtocol: 'kubernetes.io/h2c' }, 'HTTP2'],
    [{ name: 'http', appProtocol: 'tcp' }, 'TCP'],
    [{ name: 'dns', protocol: 'UDP' }, 'UDP'],
  ];
  for (const [port, want] of cases) assert.equal(kubernetesPortProtocol(port), want, JSON.stringify(port));
});

test('hosts: only bare names are short, wildcards match by suffix', () => {
  assert.equal(resolveHost('podinfo', 'podinfo'), 'podinfo.podinfo.svc.cluster.local');
  assert.equal(resolveHost('db.internal', 'data'), 'db.internal');
  assert.ok(hostMatches('*.example.com', 'a.example.com'));
  assert.ok(!hostMatches('*.example.com', 'example.com'));
  assert.deepEqual(hostAliases('a.b.svc.cluster.local', 'b'), ['a.b.svc.cluster.local', 'a', 'a.b', 'a.b.svc']);
  assert.deepEqual(hostAliases('a.b.svc.cluster.local', 'c'), ['a.b.svc.cluster.local', 'a.b', 'a.b.svc']);
});

test('exportTo: empty and * are public, . is the owner namespace, ~ is nobody', () => {
  assert.ok(isExportedTo(undefined, 'a', 'b'));
  assert.ok(isExportedTo(['*'], 'a', 'b'));
  assert.ok(isExportedTo(['.'], 'a', 'a'));
  assert.ok(!isExportedTo(['.'], 'a', 'b'));
  assert.ok(!isExportedTo(['~'], 'a', 'a'));
  assert.ok(isExportedTo(['c', 'b'], 'a', 'b'));
});

const yaml = `
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: mesh, namespace: istio-system }
spec: { meshConfig: { trustDomain: example.org, outboundTrafficPolicy: { mode: REGISTRY_ONLY } } }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: front }
spec: { selector: { app: web }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: back }
spec: { selector: { app: api }, ports: [{ name: http, port: 80 }, { name: grpc, port: 9000 }] }
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: istio-system }
spec: { egress: [{ hosts: ["./*"] }] }
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: web, namespace: front }
spec:
  workloadSelector: { labels: { app: web } }
  egress: [{ port: { number: 9000, protocol: GRPC, name: grpc }, hosts: ["back/*"] }, { hosts: ["./*"] }]
`;

const proxy = (ns: string, labels: Record<string, string>): ProxyView => ({
  id: `sidecar~127.0.0.1~x.${ns}~${ns}.svc.cluster.local`,
  role: 'sidecar',
  namespace: ns,
  workloadName: 'x',
  serviceAccount: 'default',
  labels,
  ip: '127.0.0.1',
  appPorts: {},
});

test('the snapshot indexes services and mesh config; the Sidecar in effect scopes what a proxy sees', () => {
  const { resources, diagnostics } = loadText(yaml);
  assert.deepEqual(diagnostics, []);
  const snap = buildSnapshot(resources, [], 'v1');
  assert.ok(Object.isFrozen(snap));
  assert.equal(snap.mesh.trustDomain, 'example.org');
  assert.equal(snap.mesh.rootNamespace, 'istio-system');
  assert.equal(lookupService(snap, 'web', 'front')?.ports[0]?.targetPort, 8080);
  assert.equal(lookupService(snap, 'api.back', 'front')?.hostname, 'api.back.svc.cluster.local');
  assert.equal(snap.servicesByNamespace.get('back')?.length, 1);

  const web = buildProxyScope(snap, proxy('front', { app: 'web' }));
  assert.equal(web.sidecar?.metadata.name, 'web');
  assert.equal(web.outboundTrafficPolicy, 'REGISTRY_ONLY');
  const seen = Object.fromEntries(web.services.map((s) => [s.hostname, s.ports.map((p) => p.port)]));
  assert.deepEqual(seen, { 'api.back.svc.cluster.local': [9000], 'web.front.svc.cluster.local': [80] });

  // Another workload of the namespace falls back to the root namespace's Sidecar: own namespace only.
  const other = buildProxyScope(snap, proxy('back', { app: 'api' }));
  assert.equal(other.sidecar?.metadata.namespace, 'istio-system');
  assert.deepEqual(other.services.map((s) => s.hostname), ['api.back.svc.cluster.local']);
});
