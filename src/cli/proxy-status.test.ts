// proxy-status's table and status's config lines: which version a reader sees, and what it refers to.
// A type keeps the config version at which it last changed for a proxy (…/2), while the mesh is at a
// later one (…/4) that changed nothing for it: both commands say the proxy is SYNCED to the mesh's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProxySync, TypeSync } from '../controlplane/sync-report.ts';
import { proxyQuery } from './proxy-admin-address.ts';
import { findProxy, renderProxyStatus } from './proxy-status.ts';
import { configLines } from './status.ts';

const synced = (version: string): TypeSync => ({ status: 'SYNCED', sentVersion: version, ackedVersion: version, resources: 1, sinceChangeMs: 61_000 });

function proxy(name: string, types: Record<string, TypeSync>, proxyVersion?: string): ProxySync {
  const [pod = '', namespace = ''] = name.split('.');
  return {
    proxy: `sidecar~127.0.0.1~${name}~${namespace}.svc.cluster.local`,
    name,
    namespace,
    workload: pod.replace(/-\d+$/, ''),
    generator: 'envoy',
    ...(proxyVersion ? { proxyVersion } : {}),
    connectionId: `${name}-1`,
    peer: '127.0.0.1:1',
    connectedAt: '',
    authenticated: true,
    configBytes: 0,
    types,
  };
}

const mesh = '2026-11-27T05:00:00.000Z/4';
const older = '2026-11-27T04:59:59.000Z/2';
const all = (v: string) => ({ CDS: synced(v), LDS: synced(v), EDS: synced(v), RDS: synced(v), SDS: synced(v) });

test("proxy-status: VERSION is the proxy's own version, as istioctl's; the config version SYNCED refers to is named under the table", () => {
  const table = renderProxyStatus([proxy('podinfo-stable-0.podinfo', all(older), '0.1.0'), proxy('bare-0.test', all(older))], mesh);
  const [header, first, second, blank, footer] = table.trimEnd().split('\n');
  assert.match(header ?? '', /^NAME\s+CDS\s+LDS\s+EDS\s+RDS\s+SDS\s+VERSION$/);
  assert.match(first ?? '', /^bare-0\.test\s+(SYNCED \(1m\)\s+){5}-$/);
  assert.match(second ?? '', /^podinfo-stable-0\.podinfo\s+(SYNCED \(1m\)\s+){5}0\.1\.0$/);
  assert.equal(blank, '');
  assert.equal(footer, `config version ${mesh}: 2 of 2 proxies SYNCED to it`);
  // The older per-type version is not shown beside the mesh's, where it would read as behind.
  assert.doesNotMatch(table, /\/2\b/);
});

test('proxy-status: a proxy with a STALE type is not counted as SYNCED to the config version', () => {
  const stale: TypeSync = { status: 'STALE', sentVersion: mesh, ackedVersion: older, resources: 1, sinceChangeMs: 0 };
  const table = renderProxyStatus([proxy('a-0.test', all(older)), proxy('b-0.test', { ...all(older), LDS: stale })], mesh);
  assert.match(table, new RegExp(`^config version ${mesh.replace(/[.*/]/g, '\\$&')}: 1 of 2 proxies SYNCED to it; STALE types wait for an ACK$`, 'm'));
});

test('status: the proxies line says which config version they are SYNCED to', () => {
  const base = { version: mesh, resources: 33, held: [] };
  assert.deepEqual(configLines({ ...base, proxies: { connected: 5, synced: 5 } }), [`config: version ${mesh}, 33 resources, all as written`, `proxies: 5 connected, all SYNCED to config version ${mesh}`]);
  assert.deepEqual(configLines({ ...base, proxies: { connected: 5, synced: 4 } })[1], `proxies: 5 connected, 4 SYNCED to config version ${mesh}, 1 waiting to ACK (outrigger proxy-status)`);
  assert.deepEqual(configLines({ ...base, proxies: { connected: 0, synced: 0 } })[1], 'proxies: none connected');
});

test('proxy-status PROXY finds a proxy as the debug API does, or names the known ones', () => {
  const proxies = [proxy('podinfo-stable-0.podinfo', all(older)), proxy('podinfo-canary-0.podinfo', all(older))];
  assert.equal(findProxy(proxies, 'podinfo-stable-0.podinfo').name, 'podinfo-stable-0.podinfo');
  assert.equal(findProxy(proxies, 'podinfo-canary').name, 'podinfo-canary-0.podinfo');
  assert.equal(findProxy(proxies, 'sidecar~127.0.0.1~podinfo-stable-0.podinfo~podinfo.svc.cluster.local').name, 'podinfo-stable-0.podinfo');
  assert.throws(() => findProxy(proxies, 'podinfo'), /"podinfo" matches more than one proxy: podinfo-canary-0\.podinfo, podinfo-stable-0\.podinfo; name one \(pod\.namespace\)/);
  assert.throws(() => findProxy(proxies, 'ratings-0.bookinfo'), /^Error: no connected proxy matches "ratings-0\.bookinfo"; known: podinfo-canary-0\.podinfo, podinfo-stable-0\.podinfo$/);
});

test('proxy-status deploy/NAME is its first pod only: the gateway\'s istio-ingressgateway-0, never another proxy NAME prefixes', () => {
  const gateway = proxy('istio-ingressgateway-0.istio-system', all(older));
  const proxies = [gateway, proxy('podinfo-stable-0.podinfo', all(older))];
  assert.equal(findProxy(proxies, proxyQuery('deploy/istio-ingressgateway', 'istio-system')).name, 'istio-ingressgateway-0.istio-system');
  assert.equal(findProxy(proxies, proxyQuery('deploy/istio-ingressgateway')).name, 'istio-ingressgateway-0.istio-system');
  // A Deployment with no pod here: not found, though its name prefixes podinfo-stable-0 (the old fallback to NAME took that).
  assert.throws(() => findProxy(proxies, proxyQuery('deploy/podinfo')), /^Error: no connected proxy matches "podinfo-0"/);
});

test('status: a resource refused outright (invalid from its first version) is named, not "all as written"', () => {
  const rejected = [{ code: 'OR1030', severity: 'error' as const, message: 'weight 150 is outside 0..100', resource: 'VirtualService test/b', field: 'spec.http[0].route[0].weight', span: { file: '/srv/mesh/b.yaml', start: { line: 9, col: 19 }, end: { line: 9, col: 22 }, offset: 0, endOffset: 3 } }];
  const lines = configLines({ version: mesh, resources: 33, held: [], rejected, proxies: { connected: 5, synced: 5 } });
  assert.deepEqual(lines, [
    `config: version ${mesh}, 33 resources; not all as written:`,
    '  not served, invalid with no earlier version that validated (fix the file, it reloads by itself):',
    '    /srv/mesh/b.yaml:9:19: error OR1030 VirtualService test/b: spec.http[0].route[0].weight: weight 150 is outside 0..100',
    `proxies: 5 connected, all SYNCED to config version ${mesh}`,
  ]);
});
