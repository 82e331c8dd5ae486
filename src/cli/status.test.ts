// `status` names every process the mesh runs: each app's pid, and each proxy's (a gateway has no app),
// the process `up --proxy-processes per-proxy` starts per proxy or the one proxy host they share.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { component, meshState } from '../../test/mesh-state-fixture.ts';
import { main } from './main.ts';

test('status: the PROXY PID column names the process each gateway and sidecar runs in', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-status-'));
  const state = meshState(
    [
      component('control-plane', 'control-plane', { pid: 100 }),
      component('istio-system/istio-ingressgateway-0', 'gateway', { proxyPid: 201 }),
      component('podinfo/podinfo-stable-0', 'workload', { pid: 300, proxyPid: 202 }),
    ],
    // Nothing answers here: status says the config is unknown and still lists the processes.
    { controlPlane: { xdsAddress: '127.0.0.1:1', debugAddress: '127.0.0.1:1' } },
  );
  writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state));
  const out: string[] = [];
  const log = console.log;
  console.log = (line: string) => void out.push(line);
  try {
    assert.equal(await main(['node', 'outrigger', 'status', '--dir', dir]), 0);
  } finally {
    console.log = log;
    process.exitCode = 0;
    rmSync(dir, { recursive: true, force: true });
  }
  const table = out.join('\n').split('\n');
  const header = table.find((l) => l.startsWith('NAME'));
  assert.match(header ?? '', /^NAME\s+KIND\s+SIDECAR\s+STATUS\s+PID\s+PROXY PID\s+RESTARTS\s+PORTS$/);
  const row = (name: string) => (table.find((l) => l.startsWith(`${name} `)) ?? '').split(/\s{2,}/);
  assert.deepEqual(row('control-plane').slice(4, 6), ['100', '-']);
  assert.deepEqual(row('istio-system/istio-ingressgateway-0').slice(4, 6), ['-', '201']);
  assert.deepEqual(row('podinfo/podinfo-stable-0').slice(4, 6), ['300', '202']);
});

test("status: a gateway or sidecar whose proxy is not connected says so, in its row and under the proxies' count", async () => {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/debug/configz') return void res.end(JSON.stringify({ version: '7', resources: [], held: [] }));
    // Only the ingress gateway and the sidecar are connected: the egress gateway's proxy quit.
    const row = (name: string) => ({ name, namespace: name.split('.')[1], types: { LDS: { status: 'SYNCED', resources: 1 } } });
    if (req.url === '/debug/syncz') return void res.end(JSON.stringify([row('istio-ingressgateway-0.istio-system'), row('podinfo-stable-0.podinfo')]));
    res.statusCode = 404;
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const debugAddress = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-status-'));
  const state = meshState(
    [
      component('control-plane', 'control-plane', { pid: 100 }),
      component('istio-system/istio-ingressgateway-0', 'gateway', { proxyPid: 201 }),
      component('istio-system/istio-egressgateway-0', 'gateway', { proxyPid: 201 }),
      component('podinfo/podinfo-stable-0', 'workload', { pid: 300, proxyPid: 201 }),
      component('podinfo/plain-0', 'workload', { pid: 301, sidecar: false }),
    ],
    { controlPlane: { xdsAddress: '127.0.0.1:1', debugAddress } },
  );
  writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state));
  const out: string[] = [];
  const log = console.log;
  console.log = (line: string) => void out.push(line);
  try {
    assert.equal(await main(['node', 'outrigger', 'status', '--dir', dir]), 0);
  } finally {
    console.log = log;
    process.exitCode = 0;
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const lines = out.join('\n').split('\n');
  const status = (name: string) => (lines.find((l) => l.startsWith(`${name} `)) ?? '').split(/\s{2,}/)[3];
  assert.equal(status('istio-system/istio-egressgateway-0'), 'running (proxy not connected)');
  assert.equal(status('istio-system/istio-ingressgateway-0'), 'running');
  assert.equal(status('podinfo/plain-0'), 'running');
  assert.ok(lines.includes('proxies: 2 connected, all SYNCED to config version 7; not connected: istio-system/istio-egressgateway-0'), lines.join('\n'));
});
