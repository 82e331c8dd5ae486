// `outrigger version` and `proxy-config -o yaml` against a real control plane: the control plane answers
// /version, a real `outrigger proxy` reports its version in its node metadata (as Istio's agent sends
// ISTIO_VERSION), a client that sends none shows as unknown, and the YAML is the JSON's data.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { type DebugApi, startDebugApi } from '../../src/controlplane/debug-api.ts';
import type { ProxySync } from '../../src/controlplane/sync-report.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { ProxyProcess } from './proxy-process.ts';
import { RawAdsClient, sidecarNode } from './raw-ads-client.ts';

const bin = path.resolve(import.meta.dirname, '../../bin/outrigger.mjs');
const version = (JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string }).version;
let dir: string;
let cp: ControlPlane;
let debug: DebugApi;
let proxy: ProxyProcess;
let bare: RawAdsClient;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'or-cli-version-'));
  await writeFile(path.join(dir, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: test}\nspec: {selector: {app: echo}, ports: [{name: http, port: 8080}]}\n');
  cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, log: () => {} });
  debug = await startDebugApi(cp, '127.0.0.1:0');
  proxy = await ProxyProcess.spawn(['--xds-address', cp.xdsAddress, '--node-id', 'sidecar~127.0.0.1~echo-0.test~test.svc.cluster.local', '--metadata-json', JSON.stringify({ NAMESPACE: 'test', WORKLOAD_NAME: 'echo', LABELS: { app: 'echo' } })]);
  // A client that says nothing of its version (an older proxy, a proxyless gRPC client).
  bare = new RawAdsClient(cp.xdsAddress, sidecarNode('test', 'bare-0', 'default', 'bare'));
  bare.subscribe(TypeUrl.Cluster, []);
  for (let i = 0; ; i++) {
    const names = (await get<ProxySync[]>('/debug/syncz')).map((p) => p.name);
    if (names.includes('echo-0.test') && names.includes('bare-0.test')) break;
    assert.ok(i < 300, `proxies never connected: ${names.join(', ')}; proxy log:\n${proxy.log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
});

after(async () => {
  bare.close();
  await proxy.stop();
  await debug.close();
  await cp.close();
  await rm(dir, { recursive: true });
});

async function get<T>(p: string): Promise<T> {
  return (await (await fetch(`http://${debug.address}${p}`)).json()) as T;
}

/** Runs the CLI as a person does (a process of its own: the test runner reports on this one's stdout). */
function outrigger(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000 }, (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err });
    });
  });
}

test("the control plane answers /version, and /debug/syncz carries each proxy's reported version", async () => {
  assert.deepEqual(await get('/version'), { version, nodeVersion: process.version });
  const proxies = await get<ProxySync[]>('/debug/syncz');
  assert.equal(proxies.find((p) => p.name === 'echo-0.test')?.proxyVersion, version);
  assert.equal(proxies.find((p) => p.name === 'bare-0.test')?.proxyVersion, undefined);
});

test('version: client, control plane and data plane as istioctl prints them; -o json and -o yaml the same report', async () => {
  const text = await outrigger('version', '--control-plane', debug.address);
  assert.equal(text.code, 0, text.err);
  assert.equal(text.out, `client version: ${version}\ncontrol plane version: ${version}\ndata plane version: ${version} (1 proxy), unknown (1 proxy)\n`);
  const json = await outrigger('version', '--control-plane', debug.address, '-o', 'json');
  const report = JSON.parse(json.out);
  assert.deepEqual(report.clientVersion, { version, nodeVersion: process.version });
  assert.deepEqual(report.meshVersion, [{ component: 'control-plane', address: debug.address, info: { version, nodeVersion: process.version } }]);
  assert.deepEqual(
    report.dataPlaneVersion.map((p: { name: string; version: string }) => [p.name, p.version]),
    [
      ['bare-0.test', 'unknown'],
      ['echo-0.test', version],
    ],
  );
  const yaml = await outrigger('version', '--control-plane', debug.address, '-o', 'yaml');
  assert.deepEqual(parseYaml(yaml.out), report);
});

test('version --remote=false prints the bare client version and asks nothing; an unreachable named control plane is exit 1', async () => {
  // The address is never dialled: the answer is the client's alone.
  assert.deepEqual(await outrigger('version', '--remote=false', '--control-plane', '127.0.0.1:1'), { code: 0, out: `${version}\n`, err: '' });
  const gone = await outrigger('version', '--control-plane', '127.0.0.1:1');
  assert.equal(gone.code, 1);
  assert.equal(gone.out, `client version: ${version}\n`);
  assert.match(gone.err, /^outrigger version: cannot reach the control plane debug API at 127\.0\.0\.1:1 .*\n$/);
  assert.match((await outrigger('version', '--remote=maybe')).err, /--remote \[bool\]' argument 'maybe' is invalid\. must be true or false/);
});

test('proxy-config -o yaml is the data of -o json; -o short is the table', async () => {
  for (const kind of ['cluster', 'listener', 'all']) {
    const json = await outrigger('proxy-config', kind, 'echo-0.test', '--control-plane', debug.address, '-o', 'json');
    const yaml = await outrigger('proxy-config', kind, 'echo-0.test', '--control-plane', debug.address, '-o', 'yaml');
    assert.equal(yaml.code, 0, yaml.err);
    assert.doesNotMatch(yaml.out, /^\s*[{[]/, 'YAML, not JSON');
    assert.deepEqual(parseYaml(yaml.out), JSON.parse(json.out), kind);
  }
  const short = await outrigger('proxy-config', 'cluster', 'echo-0.test', '--control-plane', debug.address, '-o', 'short');
  assert.equal(short.out, (await outrigger('proxy-config', 'cluster', 'echo-0.test', '--control-plane', debug.address)).out);
  assert.match(short.out, /^SERVICE FQDN/);
});

test('proxy-config with istioctl kind names; a proxy no one has, or an ambiguous prefix, is one clear error', async () => {
  const plural = await outrigger('proxy-config', 'clusters', 'echo-0.test', '--control-plane', debug.address);
  assert.equal(plural.code, 0, plural.err);
  assert.equal(plural.out, (await outrigger('proxy-config', 'cluster', 'echo-0.test', '--control-plane', debug.address)).out);
  const missing = await outrigger('proxy-config', 'secret', 'nosuch', '--control-plane', debug.address);
  assert.equal(missing.code, 1);
  assert.equal(missing.err, 'outrigger proxy-config: no connected proxy matches "nosuch"; known: bare-0.test, echo-0.test\n');
  const bad = await outrigger('proxy-config', 'bootstrap', 'echo-0.test', '--control-plane', debug.address);
  assert.equal(bad.code, 64);
  assert.match(bad.err, /^outrigger proxy-config: kind must be one of listener, route, cluster, endpoint, secret, all .*not "bootstrap"/);
});

test('proxy-status -o yaml is the data of -o json', async () => {
  const json = await outrigger('proxy-status', '--control-plane', debug.address, '-o', 'json');
  const yaml = await outrigger('proxy-status', '--control-plane', debug.address, '-o', 'yaml');
  assert.equal(yaml.code, 0, yaml.err);
  assert.doesNotMatch(yaml.out, /^\s*[{[]/, 'YAML, not JSON');
  // The sync ages move between the two calls; the rest is the same report.
  const stable = (proxies: Record<string, unknown>[]) => proxies.map((p) => ({ ...p, types: undefined, lastChangeAgo: undefined }));
  assert.deepEqual(stable(parseYaml(yaml.out)), stable(JSON.parse(json.out)));
});
