// The control plane end to end over real sockets: file change → debounce → push; a NACK shows in
// proxy-status with its reason; an invalid edit keeps the last good resource; debug API and metrics.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { renderProxyConfig } from '../../src/cli/proxy-config.ts';
import { renderProxyStatus } from '../../src/cli/proxy-status.ts';
import { ManualClock } from '../../src/controlplane/clock.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import type { DebugApi } from '../../src/controlplane/debug-api.ts';
import { startDebugApi } from '../../src/controlplane/debug-api.ts';
import type { ProxySync } from '../../src/controlplane/sync-report.ts';
import { unpackAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient } from './raw-ads-client.ts';

const service = `apiVersion: v1
kind: Service
metadata: {name: echo, namespace: test}
spec: {selector: {app: echo}, ports: [{name: grpc, port: 7070}]}
`;
const vs = (timeout: string, weight = '100') => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: test}
spec:
  hosts: [echo]
  http: [{timeout: ${timeout}, route: [{destination: {host: echo}, weight: ${weight}}]}]
`;
const listener = 'echo.test.svc.cluster.local:7070';

let dir: string;
let cp: ControlPlane;
let debug: DebugApi;
const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
const logs: string[] = [];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'or-cp-'));
  await writeFile(path.join(dir, 'svc.yaml'), service);
  await writeFile(path.join(dir, 'vs.yaml'), vs('1s'));
  cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, clock, log: (l, m) => logs.push(`${l} ${m}`) });
  debug = await startDebugApi(cp, '127.0.0.1:0', () => clock.now());
});

after(async () => {
  await debug.close();
  await cp.close();
  await rm(dir, { recursive: true });
});

const get = async <T>(p: string): Promise<T> => (await (await fetch(`http://${debug.address}${p}`)).json()) as T;
const routeTimeout = (l: ReturnType<typeof unpackAny>) =>
  JSON.stringify(((l['api_listener'] as Record<string, unknown>)['api_listener'] as Record<string, unknown>)['route_config']);

test('an edit is pushed after the debounce; a NACK shows in proxy-status and the proxy keeps its version', async () => {
  // The first load is no edit: nothing says "config applied" for it.
  assert.ok(!logs.some((l) => l.includes('config applied')), logs.join('\n'));
  const c = new RawAdsClient(cp.xdsAddress, { id: 'sidecar~127.0.0.1~client-0.test~test.svc.cluster.local', metadata: { GENERATOR: 'grpc', NAMESPACE: 'test' } });
  try {
    c.subscribe(TypeUrl.Listener, [listener]);
    const first = await c.next();
    assert.match(routeTimeout(unpackAny(first.resources[0]!)), /"seconds":"1"/);
    c.ack(first, [listener]);
    await c.barrier();

    // a burst of edits coalesces: nothing is pushed until the quiet period has passed
    const pushesBefore = cp.metrics.registry.render().match(/pilot_xds_pushes\{type="lds"\} (\d+)/)?.[1];
    for (const t of ['2s', '3s', '4s']) {
      await writeFile(path.join(dir, 'vs.yaml'), vs(t));
      await cp.rescan();
      clock.advance(50);
    }
    assert.equal(cp.metrics.registry.render().match(/pilot_xds_pushes\{type="lds"\} (\d+)/)?.[1], pushesBefore);
    clock.advance(100);
    const second = await c.next();
    assert.notEqual(second.version_info, first.version_info);
    assert.match(routeTimeout(unpackAny(second.resources[0]!)), /"seconds":"4"/);
    c.nack(second, first.version_info, 'listener echo: route timeout 4s exceeds the client maximum', [listener]);
    await c.barrier();

    const [sync] = await get<ProxySync[]>('/debug/syncz');
    assert.equal(sync?.name, 'client-0.test');
    assert.equal(sync?.types['LDS']?.status, 'STALE');
    assert.equal(sync?.types['LDS']?.ackedVersion, first.version_info);
    assert.equal(sync?.types['LDS']?.lastNack?.message, 'listener echo: route timeout 4s exceeds the client maximum');
    assert.equal(sync?.types['SDS']?.status, 'NOT SENT');
    const table = renderProxyStatus([sync as ProxySync]);
    assert.match(table, /^NAME\s+CDS\s+LDS\s+EDS\s+RDS\s+SDS\s+VERSION$/m);
    assert.match(table, /client-0\.test\s+.*STALE \(NACK\)/);
    assert.match(table, /timeout 4s exceeds the client maximum/);
    assert.match(await (await fetch(`http://${debug.address}/metrics`)).text(), /pilot_total_xds_rejects\{type="lds"\} 1/);
    assert.ok(logs.some((l) => l.startsWith('warn NACK lds')));

    const dump = await get<{ configs: Record<string, unknown>[] }>('/debug/config_dump?proxyID=client-0.test');
    assert.match(renderProxyConfig('listener', dump, false), new RegExp(`${listener.replace(/\./g, '\\.')}\\s+-\\s+-\\s+API`));
  } finally {
    c.close();
  }
});

test('an edit that makes a resource invalid keeps the last good version and says so, at its place', async () => {
  await writeFile(path.join(dir, 'vs.yaml'), vs('5s'));
  await cp.rescan();
  cp.flush();
  // A valid edit is said once it is in force.
  assert.ok(logs.some((l) => new RegExp(`^info config applied: ${path.join(dir, 'vs.yaml').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(\\d+ resources, version `).test(l)), logs.join('\n'));
  await writeFile(path.join(dir, 'vs.yaml'), vs('6s', '"heavy"'));
  await cp.rescan();
  cp.flush();
  const configz = await get<{ held: { key: string }[]; resources: { kind: string; name: string }[] }>('/debug/configz');
  assert.deepEqual(configz.held.map((h) => h.key), ['VirtualService test/echo']);
  assert.ok(configz.resources.some((r) => r.kind === 'VirtualService' && r.name === 'echo'));
  const metrics = await (await fetch(`http://${debug.address}/metrics`)).text();
  assert.match(metrics, /outrigger_config_held_resources 1/);
  assert.match(metrics, /outrigger_config_rejected_resources 1/);
  assert.ok(logs.some((l) => /VirtualService test\/echo is invalid \(.*vs\.yaml:\d+:\d+\); serving its last good version/.test(l)), logs.join('\n'));
  // the served VirtualService is still the 5s one
  const vsNow = cp.snapshot.resources.find((r) => r.kind === 'VirtualService');
  assert.match(JSON.stringify(vsNow?.spec), /"timeout":"5s"/);
});

test('registryz lists registered workloads; unknown debug paths and proxies are 404', async () => {
  cp.registerWorkload({ name: 'echo-v1-0', namespace: 'test', labels: { app: 'echo' }, serviceAccount: 'echo', address: '127.0.0.1', appPorts: { 7070: 7070 }, healthy: true, source: 'deployment' });
  cp.flush();
  const reg = await get<{ name: string }[]>('/debug/registryz');
  assert.ok(reg.some((w) => w.name === 'echo-v1-0'));
  assert.equal((await fetch(`http://${debug.address}/debug/config_dump?proxyID=nobody`)).status, 404);
  assert.equal((await fetch(`http://${debug.address}/nope`)).status, 404);
});

test('whenSynced resolves once a connected proxy has ACKed the push a registration caused, and false at the deadline otherwise', async () => {
  const c = new RawAdsClient(cp.xdsAddress, { id: 'sidecar~127.0.0.1~sync-0.test~test.svc.cluster.local', metadata: { NAMESPACE: 'test' } });
  try {
    const cluster = ['outbound|7070||echo.test.svc.cluster.local'];
    c.subscribe(TypeUrl.ClusterLoadAssignment, cluster);
    // No barrier here: its RDS probe would stay un-ACKed and keep the proxy out of sync.
    c.ack(await c.next(), cluster);
    cp.registerWorkload({ name: 'echo-v2-0', namespace: 'test', labels: { app: 'echo' }, serviceAccount: 'echo', address: '127.0.0.2', appPorts: { 7070: 7070 }, healthy: true, source: 'deployment' });
    let settled: boolean | undefined;
    const synced = cp.whenSynced(60_000).then((ok) => {
      settled = ok;
      return ok;
    });
    // The registration is flushed at once: the proxy sees the new cluster set without the debounce.
    const pushed = await c.next();
    assert.equal(settled, undefined, 'not in sync before the ACK');
    c.ack(pushed, cluster);
    assert.equal(await synced, true);

    cp.registerWorkload({ name: 'echo-v3-0', namespace: 'test', labels: { app: 'echo' }, serviceAccount: 'echo', address: '127.0.0.3', appPorts: { 7070: 7070 }, healthy: true, source: 'deployment' });
    const unacked = cp.whenSynced(5_000);
    await c.next();
    clock.advance(5_001);
    assert.equal(await unacked, false);
  } finally {
    c.close();
  }
});
