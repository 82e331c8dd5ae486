// `outrigger up --mode netns` end to end through the CLI, without proxies (no gateway, no injection):
// each pod in its own namespace with its own address, a client calling a service by its name (mesh DNS,
// then straight to a pod), `outrigger exec` inside the pod, and `outrigger down` leaving nothing behind.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sweepMesh } from '../../src/runtime/netns/pod-network.ts';
import type { MeshState } from '../../src/runtime/state.ts';
import { leftovers, netnsUnavailable } from './pod-processes.ts';

const skip = netnsUnavailable();
const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/outrigger.mjs');
const fixture = path.join(import.meta.dirname, 'fixtures/no-sidecars');

function outrigger(args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: err && typeof err.code !== 'number' ? `${stderr}${err.message}` : stderr });
    });
  });
}

describe('outrigger up --mode netns', { skip }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'or-netns-up-'));
  let id = '';
  let state: MeshState;

  before(async () => {
    const up = await outrigger(['up', '-f', fixture, '--mode', 'netns', '--ephemeral-ports', '--dir', dir, '-d']);
    assert.equal(up.code, 0, `up failed: ${up.stdout}${up.stderr}${existsSync(path.join(dir, 'logs/up.log')) ? readFileSync(path.join(dir, 'logs/up.log'), 'utf8') : ''}`);
    id = (JSON.parse(readFileSync(path.join(dir, 'netns.json'), 'utf8')) as { id: string }).id;
    state = JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8')) as MeshState;
  });

  after(async () => {
    if (existsSync(path.join(dir, 'state.json'))) await outrigger(['down', '--dir', dir, '--timeout', '10']);
    if (id) await sweepMesh(id);
    rmSync(dir, { recursive: true, force: true });
  });

  it('puts each pod in a namespace of its own with its own address', () => {
    assert.equal(state.mode, 'netns');
    const pods = state.components.filter((c) => c.kind === 'workload');
    assert.deepEqual(pods.map((c) => c.name).sort(), ['apps/client-0', 'apps/podinfo-0', 'apps/podinfo-1']);
    assert.equal(new Set(pods.map((c) => c.address)).size, 3);
    for (const c of pods) {
      assert.match(c.netns ?? '', new RegExp(`^or-${id}-\\d+$`));
      assert.match(c.address ?? '', /^10\.250\.\d+\.\d+$/);
    }
    assert.ok(leftovers(id).some((l) => l.startsWith(`or-${id}-`)), 'the namespaces exist');
  });

  it('runs `outrigger exec` inside the pod: a service name resolves and reaches a podinfo pod on its own address', async () => {
    // One request: the pod that answers reports its own name and address from its environment.
    const script = `Promise.all([require('node:dns').promises.lookup('podinfo', 4), fetch('http://podinfo.apps.svc.cluster.local/env', { signal: AbortSignal.timeout(5000) }).then((r) => r.json())]).then(([a, env]) => console.log(JSON.stringify({ address: a.address, hostname: env.find((l) => l.startsWith('HOSTNAME=')), podIp: env.find((l) => l.startsWith('POD_IP=')) })))`;
    const r = await outrigger(['exec', '--dir', dir, '-n', 'apps', 'deploy/client', '--', process.execPath, '-e', script], 20_000);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { address: string; hostname: string; podIp: string };
    assert.match(out.address, /^10\.250\.\d+\.(12[89]|1[3-9]\d|2[0-4]\d|25[0-4])$/, 'a service address from the upper half of the subnet');
    assert.match(out.hostname, /^HOSTNAME=podinfo-[01]$/);
    const pod = state.components.find((c) => c.name === `apps/${out.hostname.slice('HOSTNAME='.length)}`);
    assert.equal(out.podIp, `POD_IP=${pod?.address}`);
  });

  it('outrigger down stops the mesh and leaves no namespace, link or rule', async () => {
    const r = await outrigger(['down', '--dir', dir, '--timeout', '20']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(leftovers(id), []);
    assert.equal(existsSync(path.join(dir, 'state.json')), false);
    assert.equal(existsSync(path.join(dir, 'netns.json')), false);
  });
});
