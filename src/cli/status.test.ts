// `status` names every process the mesh runs: each app's pid, and each proxy's (a gateway has no app),
// the process `up --proxy-processes per-proxy` starts per proxy or the one proxy host they share.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
