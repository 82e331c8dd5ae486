// Gateway API gateways in netns mode: each Gateway's listener ports are forwarded from free ports of the
// host's 127.0.0.1 (as process mode binds them), not only the first ingress's, and `up` names them.
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
const fixture = path.join(import.meta.dirname, 'fixtures/gateway-api');

function outrigger(args: string[], timeoutMs = 90_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: err && typeof err.code !== 'number' ? `${stderr}${err.message}` : stderr });
    });
  });
}

describe('Gateway API gateways in netns mode', { skip }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'or-netns-gwapi-'));
  let id = '';
  let state: MeshState;
  let printed = '';

  before(async () => {
    const up = await outrigger(['up', '-f', fixture, '--mode', 'netns', '--ephemeral-ports', '--dir', dir, '-d']);
    const log = existsSync(path.join(dir, 'logs/up.log')) ? readFileSync(path.join(dir, 'logs/up.log'), 'utf8') : '';
    if (existsSync(path.join(dir, 'netns.json'))) id = (JSON.parse(readFileSync(path.join(dir, 'netns.json'), 'utf8')) as { id: string }).id;
    assert.equal(up.code, 0, `up failed: ${up.stdout}${up.stderr}${log}`);
    printed = up.stdout;
    state = JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8')) as MeshState;
  });

  after(async () => {
    if (existsSync(path.join(dir, 'state.json'))) await outrigger(['down', '--dir', dir, '--timeout', '10']);
    if (id) await sweepMesh(id);
    rmSync(dir, { recursive: true, force: true });
  });

  it('forwards each Gateway API listener from a host port that up names, beside the ingress', async () => {
    assert.ok(state.ingressUrl, 'the default ingress keeps its forward');
    for (const [gateway, pod, port] of [['apps/web', 'apps/web-istio-0', 80], ['apps/api', 'apps/api-istio-0', 8000]] as const) {
      const host = state.components.find((c) => c.name === pod)?.ports[`host:${port}`];
      assert.ok(host, `${pod}: host:${port} in ${JSON.stringify(state.components.map((c) => [c.name, c.ports]))}`);
      assert.match(printed, new RegExp(`^ {2}gateway ${gateway}: http://127\\.0\\.0\\.1:${host} \\(${port}\\)$`, 'm'));
      const res = await fetch(`http://127.0.0.1:${host}/`, { signal: AbortSignal.timeout(5000) });
      const body = await res.text();
      assert.equal(res.status, 200, `${gateway}: ${body}`);
      assert.equal((JSON.parse(body) as { hostname: string }).hostname, 'podinfo-0');
    }
  });

  it('outrigger down leaves no namespace, link or rule', async () => {
    const r = await outrigger(['down', '--dir', dir, '--timeout', '20']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(leftovers(id), []);
  });
});
