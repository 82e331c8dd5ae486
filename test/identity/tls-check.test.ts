// tls-check computed offline from YAML: client mode vs server mode and the conflicts between them; and
// live, with the client side read from a proxy's pushed config as the control plane dumps it.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { applyPushedModes, clientModesFromConfigDump, computeTlsCheck } from '../../src/cli/tls-check.ts';
import type { AnyResource } from '../../src/config/resource.ts';
import { loadPaths, loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';

const yaml = `apiVersion: v1
kind: Service
metadata: {name: podinfo, namespace: podinfo}
spec: {selector: {app: podinfo}, ports: [{name: http, port: 9898}]}
---
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: podinfo}
spec: {selector: {app: legacy}, ports: [{name: http, port: 8080}]}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: legacy, namespace: podinfo}
spec: {host: legacy.podinfo.svc.cluster.local, trafficPolicy: {tls: {mode: DISABLE}}}
`;

test('auto mTLS against STRICT is fine; DISABLE against STRICT conflicts', () => {
  const rows = computeTlsCheck(buildSnapshot(loadText(yaml).resources, [], '1'));
  const byHost = new Map(rows.map((r) => [r.host, r]));
  assert.deepEqual(
    { client: byHost.get('podinfo.podinfo.svc.cluster.local')?.client, server: byHost.get('podinfo.podinfo.svc.cluster.local')?.server, conflict: byHost.get('podinfo.podinfo.svc.cluster.local')?.conflict },
    { client: 'AUTO', server: 'STRICT', conflict: false },
  );
  const legacy = byHost.get('legacy.podinfo.svc.cluster.local');
  assert.equal(legacy?.client, 'DISABLE');
  assert.equal(legacy?.conflict, true);
  assert.equal(legacy?.authn, 'istio-system/default');
  assert.equal(legacy?.destinationRule, 'podinfo/legacy');
});

test('TLS origination to a MESH_EXTERNAL host is no conflict: no PeerAuthentication selects its server', () => {
  const external = `${yaml}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: podinfo}
spec: {hosts: [ext.test], location: MESH_EXTERNAL, resolution: STATIC, ports: [{number: 80, name: http, protocol: HTTP, targetPort: 443}], endpoints: [{address: 127.0.0.1}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ext, namespace: podinfo}
spec: {host: ext.test, trafficPolicy: {tls: {mode: SIMPLE, sni: ext.test}}}
`;
  const row = computeTlsCheck(buildSnapshot(loadText(external).resources, [], '1')).find((r) => r.host === 'ext.test');
  assert.deepEqual({ client: row?.client, server: row?.server, conflict: row?.conflict }, { client: 'SIMPLE', server: '-', conflict: false });
});

test("live: the seed's pushed clusters decide the client side, not the routes' weighted clusters of the same names", () => {
  const seed = loadPaths([path.join(import.meta.dirname, '../../examples/seed')]).resources as AnyResource[];
  const snapshot = buildSnapshot(seed, [], 'live');
  const runner = { id: 'sidecar~127.0.0.1~mesh-test-runner-0.istio-system~istio-system.svc.cluster.local', role: 'sidecar', namespace: 'istio-system', workloadName: 'mesh-test-runner', serviceAccount: 'default', labels: { app: 'mesh-test-runner' }, ip: '127.0.0.1', appPorts: {} } as ProxyView;
  const pushed = buildProxyResources(snapshot, runner);
  const admin = 'type.googleapis.com/envoy.admin.v3.';
  // The shape and order of the control plane's /debug/config_dump: clusters, then routes, whose
  // weighted clusters carry the subset clusters' names.
  const dump = {
    configs: [
      { '@type': `${admin}ClustersConfigDump`, dynamic_active_clusters: [...(pushed.get(TypeUrl.Cluster)?.values() ?? [])].map((cluster) => ({ cluster })) },
      { '@type': `${admin}RoutesConfigDump`, dynamic_route_configs: [...(pushed.get(TypeUrl.RouteConfiguration)?.values() ?? [])].map((route_config) => ({ route_config })) },
    ],
  };
  const dumpText = JSON.stringify(dump);
  assert.match(dumpText, /"weight"/, 'the routes split traffic across subset clusters');
  const modes = clientModesFromConfigDump(dump);
  // Every podinfo cluster, subsets included, is pushed with mesh mTLS.
  const podinfo = [...modes].filter(([name]) => name.endsWith('.podinfo.svc.cluster.local'));
  assert.ok(podinfo.some(([name]) => /^outbound\|9898\|canary\|/.test(name)), JSON.stringify(podinfo));
  for (const [name, mode] of podinfo) assert.notEqual(mode, 'DISABLE', name);
  const rows = computeTlsCheck(snapshot, 'podinfo');
  applyPushedModes(rows, modes);
  assert.ok(rows.length > 0);
  for (const r of rows) {
    assert.equal(r.conflict, false, `${r.host}:${r.port} ${r.client} vs ${r.server}`);
    assert.notEqual(r.client, 'DISABLE', `${r.host}:${r.port}`);
  }
});

test('offline: `tls-check -f DIR SERVICE` keeps SERVICE an argument, and -f repeats', async () => {
  const { main } = await import('../../src/cli/main.ts');
  const seedDir = path.join(import.meta.dirname, '../../examples/seed');
  const printed: string[] = [];
  const log = console.log;
  console.log = (line: string) => void printed.push(line);
  try {
    assert.equal(await main(['node', 'outrigger', 'tls-check', '-f', seedDir, 'podinfo.podinfo']), 0);
    assert.equal(await main(['node', 'outrigger', 'tls-check', '-f', path.join(seedDir, '01-mtls-security.yaml'), '-f', path.join(seedDir, 'podinfo.yaml'), 'podinfo-canary.podinfo']), 0);
  } finally {
    console.log = log;
  }
  const [only, canary] = printed.map((t) => t.split('\n').slice(1));
  assert.deepEqual(only?.map((l) => l.split(/\s+/)[0]), ['podinfo.podinfo.svc.cluster.local:9898']);
  assert.deepEqual(canary?.map((l) => l.split(/\s+/)[0]), ['podinfo-canary.podinfo.svc.cluster.local:9898']);
});

test('offline: files that do not load, or a filter nothing matches, exit 1 with a line saying so, not an empty table', async () => {
  const { main } = await import('../../src/cli/main.ts');
  const seedDir = path.join(import.meta.dirname, '../../examples/seed');
  const printed: string[] = [];
  const errors: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (line: string) => void printed.push(line);
  console.error = (line: string) => void errors.push(line);
  try {
    assert.equal(await main(['node', 'outrigger', 'tls-check', '-f', '/nonexistent/outrigger']), 1);
    // Offline, a workload name is no service: say so.
    assert.equal(await main(['node', 'outrigger', 'tls-check', '-f', seedDir, 'podinfo-stable-0.podinfo']), 1);
  } finally {
    [console.log, console.error] = [log, error];
    process.exitCode = 0;
  }
  assert.deepEqual(printed, [], 'no table');
  assert.ok(errors.some((l) => /^outrigger tls-check: 1 error\(s\) in the files/.test(l)), errors.join('\n'));
  assert.ok(errors.some((l) => /^outrigger tls-check: no service matches "podinfo-stable-0\.podinfo"/.test(l)), errors.join('\n'));
});

test('offline: a conflict exits 1, as live mode does; a table with none exits 0', async () => {
  const { main } = await import('../../src/cli/main.ts');
  const dir = await mkdtemp(path.join(tmpdir(), 'or-tls-check-'));
  const file = path.join(dir, 'mesh.yaml');
  await writeFile(file, yaml);
  const printed: string[] = [];
  const log = console.log;
  console.log = (line: string) => void printed.push(line);
  try {
    // legacy's DISABLE against the mesh-wide STRICT is a conflict.
    assert.equal(await main(['node', 'outrigger', 'tls-check', '-f', file]), 1);
    process.exitCode = 0;
    assert.equal(await main(['node', 'outrigger', 'tls-check', '-f', file, '-o', 'json']), 1);
    process.exitCode = 0;
    assert.equal(await main(['node', 'outrigger', 'tls-check', '-f', file, 'podinfo.podinfo']), 0);
  } finally {
    console.log = log;
    process.exitCode = 0;
    await rm(dir, { recursive: true });
  }
  assert.match(printed[0] ?? '', /^legacy\.podinfo\.svc\.cluster\.local:8080\s+CONFLICT\s+STRICT\s+DISABLE\s/m);
  assert.ok(JSON.parse(printed[1] ?? '[]').some((r: { conflict: boolean }) => r.conflict));
  assert.doesNotMatch(printed[2] ?? '', /CONFLICT/);
});
