// `outrigger proxy-status PROXY` against a real control plane and a real proxy: the control plane's
// config for the proxy compared with the proxy's own admin config_dump, as istioctl prints it. A proxy
// that refuses an update (here: it has no RBAC filter, so it NACKs listeners that need one) keeps its
// older listeners, and the comparison shows the difference as a unified diff.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { type DebugApi, startDebugApi } from '../../src/controlplane/debug-api.ts';
import type { ProxySync } from '../../src/controlplane/sync-report.ts';
import { defaultFilterFactories } from '../../src/proxy/http/filter-factories.ts';
import { MetricsRegistry } from '../../src/telemetry/metrics/registry.ts';
import { component, meshState } from '../mesh-state-fixture.ts';
import { startProxy } from '../proxy/harness.ts';

const bin = path.resolve(import.meta.dirname, '../../bin/outrigger.mjs');
const service = `apiVersion: v1
kind: Service
metadata: {name: client, namespace: test}
spec: {selector: {app: client}, ports: [{name: http, port: 8080}]}
`;
const denyAll = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-delete, namespace: test}
spec:
  action: DENY
  rules: [{to: [{operation: {methods: [DELETE]}}]}]
`;

let dir: string;
let cp: ControlPlane;
let debug: DebugApi;
let proxy: Awaited<ReturnType<typeof startProxy>>;
/** Resolves on the control plane's next NACK log line. */
let nacked: Promise<string>;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'or-ps-compare-'));
  await writeFile(path.join(dir, 'svc.yaml'), service);
  let onNack: (line: string) => void = () => {};
  nacked = new Promise((resolve) => {
    onNack = resolve;
  });
  cp = await ControlPlane.start({
    configPaths: [dir],
    xdsAddress: '127.0.0.1:0',
    allowAnonymous: true,
    rescanMs: 0,
    log: (level, message) => {
      if (level === 'warn' && message.startsWith('NACK')) onNack(message);
    },
  });
  debug = await startDebugApi(cp, '127.0.0.1:0');
  // A proxy built without the RBAC filter: a listener that needs it (for an AuthorizationPolicy) is refused.
  proxy = await startProxy({
    xdsAddress: cp.xdsAddress,
    nodeId: 'sidecar~127.0.0.1~client-0.test~test.svc.cluster.local',
    metadata: { NAMESPACE: 'test', WORKLOAD_NAME: 'client', LABELS: { app: 'client' } },
    filters: defaultFilterFactories({ registry: new MetricsRegistry(), localWorkload: { workload: 'client', namespace: 'test', labels: { app: 'client' } } }).filter((f) => f.name !== 'envoy.filters.http.rbac'),
  });
  await untilSynced();
  // The mesh state a local mesh writes: where the control plane's debug API and the proxy's admin API are.
  const state = meshState([component('test/client-0', 'workload', { ports: { 'proxy:15000': proxy.admin } })], { controlPlane: { xdsAddress: cp.xdsAddress, debugAddress: debug.address } });
  await writeFile(path.join(dir, 'state.json'), JSON.stringify(state));
});

after(async () => {
  await proxy.close();
  await debug.close();
  await cp.close();
  await rm(dir, { recursive: true });
});

/** Waits (bounded) until the proxy has ACKed clusters, listeners, endpoints and routes. */
async function untilSynced(): Promise<void> {
  for (let i = 0; ; i++) {
    const [sync] = (await (await fetch(`http://${debug.address}/debug/syncz`)).json()) as ProxySync[];
    if (sync && ['CDS', 'LDS', 'EDS', 'RDS'].every((t) => sync.types[t]?.status === 'SYNCED')) return;
    assert.ok(i < 300, `the proxy never ACKed its config: ${JSON.stringify(sync?.types)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs the CLI as a person does, in a process of its own. */
function outrigger(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000 }, (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err });
    });
  });
}

test('proxy-status PROXY: a proxy running what it was sent matches, per type, as istioctl prints it', async () => {
  for (const ref of ['client-0.test', 'client-0', 'deploy/client', 'pod/client-0']) {
    const args = ref.includes('/') ? [ref, '-n', 'test'] : [ref];
    const r = await outrigger('proxy-status', '--dir', dir, ...args);
    assert.equal(r.code, 0, `${ref}: ${r.err}`);
    assert.match(r.out, /^Clusters Match\nListeners Match\nRoutes Match \(RDS last loaded at [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\)\n$/, ref);
  }
  const json = await outrigger('proxy-status', '--dir', dir, 'client-0.test', '-o', 'json');
  const data = JSON.parse(json.out) as { proxy: string; types: { type: string; match: boolean }[] };
  assert.equal(data.proxy, 'client-0.test');
  assert.deepEqual(
    data.types.map((t) => [t.type, t.match]),
    [
      ['Clusters', true],
      ['Listeners', true],
      ['Routes', true],
    ],
  );
});

test('proxy-status PROXY: an unknown proxy is an error naming the known ones, exit 1', async () => {
  const r = await outrigger('proxy-status', '--dir', dir, 'nobody-0.test');
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  assert.equal(r.err, 'outrigger proxy-status: no connected proxy matches "nobody-0.test"; known: client-0.test\n');
});

test('proxy-status PROXY: listeners the proxy refused show as a diff from the control plane to the proxy', async () => {
  await writeFile(path.join(dir, 'authz.yaml'), denyAll);
  await cp.rescan();
  cp.flush();
  assert.match(await nacked, /unknown HTTP filter envoy\.filters\.http\.rbac/);
  const r = await outrigger('proxy-status', '--dir', dir, 'client-0.test');
  assert.equal(r.code, 0, r.err);
  const [clusters, ...rest] = r.out.split('\n');
  assert.equal(clusters, 'Clusters Match');
  const text = rest.join('\n');
  assert.match(text, /^--- Control Plane Listeners\n\+\+\+ Proxy Listeners\n@@ -\d+(,\d+)? \+\d+(,\d+)? @@\n/);
  // The control plane's side has the RBAC filter the proxy refused; the proxy's side does not.
  assert.match(text, /^-\s+"name": "envoy\.filters\.http\.rbac",$/m);
  assert.doesNotMatch(text, /^\+.*envoy\.filters\.http\.rbac/m);
  assert.match(text, /\nRoutes Match/);
});
