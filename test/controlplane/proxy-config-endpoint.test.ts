// `outrigger proxy-config endpoint PROXY` against a real control plane and a real proxy whose outlier
// detection has ejected an endpoint: istioctl's ENDPOINT STATUS OUTLIER CHECK CLUSTER table, read from
// the proxy's own admin /clusters?format=json (FAILED for the ejected host), and the control plane's view
// (OUTLIER CHECK -) when the proxy's admin API is not reachable or --control-plane asks for that view.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { type DebugApi, startDebugApi } from '../../src/controlplane/debug-api.ts';
import type { ProxySync } from '../../src/controlplane/sync-report.ts';
import { component, meshState } from '../mesh-state-fixture.ts';
import { startProxy } from '../proxy/harness.ts';
import { FaultUpstream } from '../resilience/fault-upstream.ts';

const bin = path.resolve(import.meta.dirname, '../../bin/outrigger.mjs');
const CLUSTER = 'outbound|80||ext.example.com';
const config = (good: number, bad: number) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: test}
spec:
  hosts: [ext.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  location: MESH_EXTERNAL
  endpoints: [{address: 127.0.0.1, ports: {http: ${good}}}, {address: 127.0.0.1, ports: {http: ${bad}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ext, namespace: test}
spec:
  host: ext.example.com
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 3, interval: 300s, baseEjectionTime: 300s, maxEjectionPercent: 100}
`;

let dir: string;
let cp: ControlPlane;
let debug: DebugApi;
let proxy: Awaited<ReturnType<typeof startProxy>>;
const good = new FaultUpstream();
const bad = new FaultUpstream(() => ({ kind: 'status', status: 500 }));

before(async () => {
  await good.listen();
  await bad.listen();
  dir = await mkdtemp(path.join(tmpdir(), 'or-pc-endpoint-'));
  await mkdir(path.join(dir, 'config'));
  await writeFile(path.join(dir, 'config', 'ext.yaml'), config(good.port, bad.port));
  cp = await ControlPlane.start({ configPaths: [path.join(dir, 'config')], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, log: () => {} });
  debug = await startDebugApi(cp, '127.0.0.1:0');
  proxy = await startProxy({ xdsAddress: cp.xdsAddress, nodeId: 'sidecar~127.0.0.1~client-0.test~test.svc.cluster.local', metadata: { NAMESPACE: 'test', WORKLOAD_NAME: 'client', LABELS: { app: 'client' } } });
  for (let i = 0; ; i++) {
    const [sync] = (await (await fetch(`http://${debug.address}/debug/syncz`)).json()) as ProxySync[];
    if (sync && ['CDS', 'LDS', 'EDS', 'RDS'].every((t) => sync.types[t]?.status === 'SYNCED') && proxy.proxy.clusters.get(CLUSTER)?.endpoints.length === 2) break;
    assert.ok(i < 300, `the proxy never ACKed its config: ${JSON.stringify(sync?.types)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  // The bad endpoint's third consecutive 500 ejects it (the interval and ejection time, 300 s, outlast the test).
  const outbound = await proxy.port('virtualOutbound');
  for (let i = 0; i < 40 && proxy.proxy.clusters.get(CLUSTER)?.outlier?.stats.ejections_active !== 1; i++) await call(outbound);
  assert.equal(proxy.proxy.clusters.get(CLUSTER)?.outlier?.stats.ejections_active, 1, 'the bad endpoint was ejected');
  // The mesh state a local mesh writes: where the control plane's debug API and the proxy's admin API are.
  await writeFile(path.join(dir, 'state.json'), JSON.stringify(meshState([component('test/client-0', 'workload', { ports: { 'proxy:15000': proxy.admin } })], { controlPlane: { xdsAddress: cp.xdsAddress, debugAddress: debug.address } })));
});

after(async () => {
  await proxy.close();
  await debug.close();
  await cp.close();
  await good.close();
  await bad.close();
  await rm(dir, { recursive: true });
});

/** A request to ext.example.com through the sidecar, as an app sends it. */
function call(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .request({ host: '127.0.0.1', port, path: 'http://ext.example.com/', headers: { host: 'ext.example.com' }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject)
      .end();
  });
}

/** Runs the CLI as a person does, in a process of its own. */
function outrigger(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000 }, (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err });
    });
  });
}

const rowsOf = (out: string) => out.trimEnd().split('\n');
const cells = (line: string) => line.split(/\s{3,}/);

test("proxy-config endpoint: istioctl's OUTLIER CHECK from the proxy's own /clusters, FAILED for the ejected endpoint", async () => {
  const r = await outrigger('proxy-config', 'endpoint', 'client-0.test', '--dir', dir, '--cluster', CLUSTER);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, '');
  const [header, ...rows] = rowsOf(r.out);
  assert.match(header ?? '', /^ENDPOINT\s+STATUS\s+OUTLIER CHECK\s+CLUSTER$/);
  // istioctl's order: by address, then port.
  const expected = [
    [`127.0.0.1:${good.port}`, 'HEALTHY', 'OK', CLUSTER],
    [`127.0.0.1:${bad.port}`, 'HEALTHY', 'FAILED', CLUSTER],
  ].sort((a, b) => Number(a[0]?.split(':')[1]) - Number(b[0]?.split(':')[1]));
  assert.deepEqual(rows.map(cells), expected);
  // The filters apply to the proxy's view: --port, and every cluster the proxy holds without --cluster.
  const one = await outrigger('proxy-config', 'endpoints', 'client-0.test', '--dir', dir, '--port', String(bad.port));
  assert.deepEqual(rowsOf(one.out).slice(1).map(cells), [[`127.0.0.1:${bad.port}`, 'HEALTHY', 'FAILED', CLUSTER]]);
  const all = await outrigger('proxy-config', 'ep', 'client-0.test', '--dir', dir);
  assert.ok(rowsOf(all.out).some((l) => cells(l).join(' ') === `127.0.0.1:${bad.port} HEALTHY FAILED ${CLUSTER}`), all.out);
});

test("proxy-config endpoint: the control plane's view (OUTLIER CHECK -) for --control-plane, and, with a note, when the proxy cannot be reached", async () => {
  const expected = (port: number) => [`127.0.0.1:${port}`, 'HEALTHY', '-', CLUSTER];
  const sorted = [good.port, bad.port].sort((a, b) => a - b).map(expected);
  const asked = await outrigger('proxy-config', 'endpoint', 'client-0.test', '--dir', dir, '--control-plane', debug.address, '--cluster', CLUSTER);
  assert.equal(asked.code, 0, asked.err);
  assert.equal(asked.err, '', 'asked for the control plane: no note');
  assert.deepEqual(rowsOf(asked.out).slice(1).map(cells), sorted);

  // A mesh state that does not say where the proxy's admin API is.
  const other = await mkdtemp(path.join(tmpdir(), 'or-pc-endpoint-noadmin-'));
  try {
    await writeFile(path.join(other, 'state.json'), JSON.stringify(meshState([component('test/client-0', 'workload')], { controlPlane: { xdsAddress: cp.xdsAddress, debugAddress: debug.address } })));
    const r = await outrigger('proxy-config', 'endpoint', 'client-0.test', '--dir', other, '--cluster', CLUSTER);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, "note: the proxy's own admin API is not reachable from here; showing the endpoints the control plane sent (OUTLIER CHECK -: outlier detection runs in the proxy)\n");
    assert.deepEqual(rowsOf(r.out).slice(1).map(cells), sorted);
  } finally {
    await rm(other, { recursive: true });
  }
});
