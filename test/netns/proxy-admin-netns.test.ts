// The CLI's debug commands in netns mode read each proxy's own admin API, which stays on its pod's
// loopback, through a forward into the pod as `kubectl port-forward` would: `proxy-status PROXY` compares
// both sides, `proxy-config secret` shows the workload certificate, the endpoint table OUTLIER CHECK. The
// forward ends with the command: no relay is left running in a pod.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import { openProxyAdmin } from '../../src/cli/proxy-admin-address.ts';
import { sweepMesh } from '../../src/runtime/netns/pod-network.ts';
import type { MeshState } from '../../src/runtime/state.ts';
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

/**
 * Relays a port forward runs inside a pod of this mesh (`ip netns exec` execs them, so they are known by
 * their network namespace and their script), as `pid: cmdline`.
 */
function relaysIn(id: string): string[] {
  const pods = new Set(readdirSync('/run/netns').filter((n) => n.startsWith(`or-${id}-`)).map((n) => `net:[${statSync(path.join('/run/netns', n)).ino}]`));
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes("require('node:net').connect(") && pods.has(readlinkSync(`/proc/${pid}/ns/net`))) found.push(`${pid}: ${cmdline}`);
    } catch {
      // the process ended while listing
    }
  }
  return found;
}

/** The relays still running once those the command killed have exited (a kill is not instant). */
async function relaysLeft(id: string): Promise<string[]> {
  for (let i = 0; i < 20 && relaysIn(id).length > 0; i++) await setTimeout(100);
  return relaysIn(id);
}

describe("the proxy's own admin API in netns mode, read by the CLI", { skip }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'or-netns-admin-'));
  let id = '';

  before(async () => {
    const up = await outrigger(['up', '-f', seed, '--mode', 'netns', '--ephemeral-ports', '--dir', dir, '-d']);
    const log = existsSync(path.join(dir, 'logs/up.log')) ? readFileSync(path.join(dir, 'logs/up.log'), 'utf8') : '';
    if (existsSync(path.join(dir, 'netns.json'))) id = (JSON.parse(readFileSync(path.join(dir, 'netns.json'), 'utf8')) as { id: string }).id;
    assert.equal(up.code, 0, `up failed: ${up.stdout}${up.stderr}${log}`);
  });

  after(async () => {
    if (existsSync(path.join(dir, 'state.json'))) await outrigger(['down', '--dir', dir, '--timeout', '10']);
    if (id) await sweepMesh(id);
    rmSync(dir, { recursive: true, force: true });
  });

  it("proxy-status PROXY compares the control plane's config with the sidecar's and the gateway's own", async () => {
    for (const ref of [['podinfo-stable-0.podinfo'], ['deploy/istio-ingressgateway', '-n', 'istio-system']]) {
      const r = await outrigger(['proxy-status', ...ref, '--dir', dir], 30_000);
      assert.equal(r.code, 0, `${ref.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /^Clusters Match$/m, r.stdout);
      assert.match(r.stdout, /^Listeners Match$/m, r.stdout);
      assert.match(r.stdout, /^Routes Match/m, r.stdout);
    }
    assert.deepEqual(await relaysLeft(id), []);
  });

  it("proxy-config secret shows the workload certificate the proxy holds, not only the control plane's ROOTCA", async () => {
    const r = await outrigger(['proxy-config', 'secret', 'podinfo-stable-0.podinfo', '--dir', dir], 30_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /default\s+Cert Chain\s+true\s+[0-9a-f]+\s+\S+Z\s+\S+Z\s+spiffe:\/\/cluster\.local\/ns\/podinfo\/sa\/podinfo/);
    assert.match(r.stdout, /ROOTCA\s+CA\s+true/);
    assert.deepEqual(await relaysLeft(id), []);
  });

  it("the endpoint table is the proxy's own, with OUTLIER CHECK", async () => {
    const r = await outrigger(['proxy-config', 'endpoint', 'mesh-test-runner-0.istio-system', '--cluster', 'outbound|9898|stable|podinfo.podinfo.svc.cluster.local', '--dir', dir], 30_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^ENDPOINT\s+STATUS\s+OUTLIER CHECK\s+CLUSTER$/m);
    assert.match(r.stdout, /^\S+:\d+\s+HEALTHY\s+OK\s+outbound\|9898\|stable\|podinfo\.podinfo\.svc\.cluster\.local$/m, r.stdout);
    assert.deepEqual(await relaysLeft(id), []);
  });

  it('sees the relay of an open forward, as the checks above would', async () => {
    const state = JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8')) as MeshState;
    const admin = await openProxyAdmin(state, 'mesh-test-runner-0.istio-system');
    assert.ok(admin);
    const runner = state.components.find((c) => c.name === 'istio-system/mesh-test-runner-0');
    assert.equal(admin.label, `127.0.0.1:15000 in pod ${runner?.netns}`);
    // A connection left open holds its relay until the forward closes.
    const socket = net.connect(admin.port, admin.host);
    socket.on('error', () => {});
    try {
      await once(socket, 'connect');
      for (let i = 0; i < 50 && relaysIn(id).length === 0; i++) await setTimeout(100);
      assert.equal(relaysIn(id).length, 1);
    } finally {
      await admin.close();
    }
    assert.deepEqual(await relaysLeft(id), []);
  });

  it('outrigger down leaves no namespace, link or rule', async () => {
    const r = await outrigger(['down', '--dir', dir, '--timeout', '20']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(leftovers(id), []);
  });
});
