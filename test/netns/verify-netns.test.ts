// The seed in netns mode read from the host: `outrigger verify` (its in-mesh calls go through the test
// runner's sidecar, whose outbound port is on the pod's loopback; metrics and certificates on the pod
// addresses), the dashboard's scrape targets, and the proxy ports the state lists.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../src/controlplane/clock.ts';
import { scrapeTargetsFromState } from '../../src/dashboard/scrape-targets.ts';
import { Scraper } from '../../src/dashboard/scraper.ts';
import { TrafficHistory } from '../../src/dashboard/traffic-history.ts';
import { sweepMesh } from '../../src/runtime/netns/pod-network.ts';
import { openAddress, reachableAddress } from '../../src/runtime/reachable-address.ts';
import type { MeshState } from '../../src/runtime/state.ts';
import { request } from '../../src/verify/check.ts';
import type { VerifyReport } from '../../src/verify/run-verify.ts';
import { leftovers, netnsUnavailable } from './pod-processes.ts';

const skip = netnsUnavailable();
const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/outrigger.mjs');
const seed = path.join(root, 'examples/seed');

function outrigger(args: string[], timeoutMs = 90_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: err && typeof err.code !== 'number' ? `${stderr}${err.message}` : stderr });
    });
  });
}

describe('the seed in netns mode, read from the host', { skip }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'or-netns-verify-'));
  let id = '';
  let state: MeshState;

  before(async () => {
    const up = await outrigger(['up', '-f', seed, '--mode', 'netns', '--ephemeral-ports', '--dir', dir, '-d']);
    const log = existsSync(path.join(dir, 'logs/up.log')) ? readFileSync(path.join(dir, 'logs/up.log'), 'utf8') : '';
    if (existsSync(path.join(dir, 'netns.json'))) id = (JSON.parse(readFileSync(path.join(dir, 'netns.json'), 'utf8')) as { id: string }).id;
    assert.equal(up.code, 0, `up failed: ${up.stdout}${up.stderr}${log}`);
    state = JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8')) as MeshState;
  });

  after(async () => {
    if (existsSync(path.join(dir, 'state.json'))) await outrigger(['down', '--dir', dir, '--timeout', '10']);
    if (id) await sweepMesh(id);
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists only the proxy ports each proxy serves', () => {
    for (const c of state.components.filter((x) => x.kind !== 'control-plane')) {
      const proxyPorts = Object.keys(c.ports).filter((k) => k.startsWith('proxy:'));
      const want = c.kind === 'gateway' ? ['proxy:15000', 'proxy:15021', 'proxy:15090'] : ['proxy:15000', 'proxy:15001', 'proxy:15006', 'proxy:15008', 'proxy:15021', 'proxy:15090'];
      assert.deepEqual(proxyPorts.sort(), want, c.name);
    }
  });

  it('passes verify, the checks made from inside the mesh included', async () => {
    const r = await outrigger(['verify', '--dir', dir, '-o', 'json']);
    const report = JSON.parse(r.stdout) as VerifyReport;
    const failed = report.checks.filter((c) => c.status === 'FAIL');
    assert.deepEqual(failed, [], r.stderr);
    assert.equal(r.code, 0);
    const passed = report.checks.filter((c) => c.status === 'PASS').map((c) => c.name);
    for (const name of [
      'mTLS between sidecars (peer identity seen by the destination)',
      'authorization: DELETE from istio-system/mesh-test-runner-0 is denied',
      'metrics on every proxy (/stats/prometheus)',
      'workload certificate of istio-system/mesh-test-runner-0',
      'workload certificate of podinfo/podinfo-stable-0',
      'workload certificate of podinfo/podinfo-canary-0',
    ]) {
      assert.ok(passed.includes(name), `${name} did not pass: ${JSON.stringify(report.checks)}`);
    }
  });

  it("scrapes every proxy at the dashboard's targets, with the traffic verify sent", async () => {
    const targets = scrapeTargetsFromState(state);
    assert.equal(targets.length, 5, JSON.stringify(targets));
    const scraper = new Scraper({ targets: () => targets, history: new TrafficHistory(4), clock: new ManualClock(0), intervalMs: 0, timeoutMs: 5000, maxBytes: 4_000_000, concurrency: 4 });
    try {
      await scraper.scrapeNow();
      const health = scraper.health();
      assert.deepEqual(
        health.filter((t) => !t.up),
        [],
      );
      const runner = health.find((t) => t.name === 'istio-system/mesh-test-runner-0');
      assert.ok((runner?.edges ?? 0) > 0, JSON.stringify(health));
    } finally {
      scraper.close();
    }
  });

  it("forwards a port on a pod's loopback for the call, and fails the call when nothing listens there", async () => {
    const runner = state.components.find((c) => c.name === 'istio-system/mesh-test-runner-0') ?? assert.fail('no test runner');
    assert.equal(reachableAddress('netns', runner, 'proxy:15001'), undefined);
    const admin = await openAddress('netns', runner, 'proxy:15000');
    assert.ok(admin);
    try {
      assert.equal(admin.label, `127.0.0.1:15000 in pod ${runner.netns}`);
      const ready = await request(admin, '/ready', { timeoutMs: 5000 });
      assert.equal(ready.status, 200, ready.body);
    } finally {
      await admin.close();
    }
    // Port 1: nothing listens in the pod. The relay's failure resets the forwarded connection.
    const nothing = await openAddress('netns', { ...runner, ports: { 'proxy:15001': 1 } }, 'proxy:15001');
    assert.ok(nothing);
    try {
      await assert.rejects(request(nothing, 'http://podinfo.podinfo:9898/', { timeoutMs: 5000 }), { code: 'VERIFY_HTTP', message: /^http:\/\/podinfo\.podinfo:9898\/ through 127\.0\.0\.1:1 in pod or-\w+-\d+: socket hang up$/ });
    } finally {
      await nothing.close();
    }
  });

  it('outrigger down leaves no namespace, link or rule', async () => {
    const r = await outrigger(['down', '--dir', dir, '--timeout', '20']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(leftovers(id), []);
  });
});
