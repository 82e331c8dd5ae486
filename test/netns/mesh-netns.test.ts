// The mesh in netns mode with real sidecars and gateway: two podinfo workloads under mesh-wide STRICT
// mTLS, the ingress gateway published on the host, a plaintext client without a sidecar refused on a
// STRICT port and judged by the sidecar on a PERMISSIVE one (inbound capture), a meshed client reaching
// a service by name through its sidecar (proxy env, and DNS capture without it), a pod calling its own
// service, raw TCP to a service address through capture.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sweepMesh } from '../../src/runtime/netns/pod-network.ts';
import type { MeshState } from '../../src/runtime/state.ts';
import { httpGetScript, leftovers, netnsUnavailable, runInPod, tcpEchoScript } from './pod-processes.ts';

const skip = netnsUnavailable();
const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/outrigger.mjs');
const fixture = path.join(import.meta.dirname, 'fixtures/two-podinfo');

function outrigger(args: string[], timeoutMs = 90_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: err && typeof err.code !== 'number' ? `${stderr}${err.message}` : stderr });
    });
  });
}

describe('the mesh in netns mode, with sidecars', { skip }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'or-netns-mesh-'));
  let id = '';
  let state: MeshState;
  const pod = (name: string) => state.components.find((c) => c.name === name) ?? assert.fail(`no ${name}`);

  before(async () => {
    const up = await outrigger(['up', '-f', fixture, '--mode', 'netns', '--ephemeral-ports', '--dir', dir, '-d']);
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

  it('serves through the ingress gateway published on the host', async () => {
    // node:http, because fetch will not send a Host header of our choosing.
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.get(`${state.ingressUrl}/`, { headers: { host: 'podinfo.example.com' }, timeout: 5000 }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('timeout')));
    });
    assert.equal(status, 200, body);
    assert.equal((JSON.parse(body) as { hostname: string }).hostname, 'podinfo-stable-0');
  });

  it('refuses a plaintext client without a sidecar on the STRICT app port, by address and by service name', async () => {
    const legacy = pod('legacy/legacy-client-0').netns as string;
    assert.deepEqual(await runInPod(legacy, httpGetScript(`http://${pod('podinfo/podinfo-stable-0').address}:9898/`)), { error: 'ECONNREFUSED' });
    assert.deepEqual(await runInPod(legacy, httpGetScript('http://podinfo-stable.podinfo:9898/')), { error: 'ECONNREFUSED' });
  });

  it("sends a plaintext client's connection to a PERMISSIVE port through the pod's sidecar, which judges it", async () => {
    const legacy = pod('legacy/legacy-client-0').netns as string;
    const canary = pod('podinfo/podinfo-canary-0').address as string;
    for (const base of [`http://${canary}:9898`, 'http://podinfo-canary.podinfo:9898']) {
      const ok = await runInPod<{ status: number; body: string }>(legacy, httpGetScript(`${base}/`));
      assert.equal(ok.status, 200, JSON.stringify(ok));
      assert.equal((JSON.parse(ok.body) as { hostname: string }).hostname, 'podinfo-canary-0');
      // Only the sidecar knows this policy: the app would answer 200.
      const denied = await runInPod<{ status: number; body: string }>(legacy, httpGetScript(`${base}/env`));
      assert.equal(denied.status, 403, JSON.stringify(denied));
      assert.match(denied.body, /^RBAC: access denied\ndenied by podinfo\/canary-no-env/);
    }
    // The sidecar counted both as a destination, from a caller without an identity.
    const metrics = await new Promise<string>((resolve, reject) => {
      http.get(`http://${canary}:15090/stats/prometheus`, { timeout: 5000 }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    const count = (code: number) =>
      metrics
        .split('\n')
        .filter((l) => l.startsWith('istio_requests_total{') && l.includes('reporter="destination"') && l.includes(`response_code="${code}"`) && l.includes('source_principal="unknown"'))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    assert.equal(count(403), 2, metrics);
    assert.ok(count(200) >= 2, metrics);
  });

  it('lets a meshed pod call a service by name through its sidecar, with the proxy env and with DNS capture alone', async () => {
    const canary = pod('podinfo/podinfo-canary-0');
    const viaEnv = await runInPod<{ status: number; body: string }>(canary.netns as string, httpGetScript('http://podinfo-stable:9898/'), { ...(canary.env ?? {}) });
    assert.equal(viaEnv.status, 200);
    assert.equal((JSON.parse(viaEnv.body) as { hostname: string }).hostname, 'podinfo-stable-0');
    const viaDns = await runInPod<{ status: number; body: string }>(canary.netns as string, httpGetScript('http://podinfo-stable.podinfo.svc.cluster.local:9898/'));
    assert.equal((JSON.parse(viaDns.body) as { hostname: string }).hostname, 'podinfo-stable-0');
  });

  it('lets a pod call its own service: its sidecar reaches its own tunnel on the pod address', async () => {
    // The sidecar dials the endpoint, this pod's address, on 15008; the proxy listens on loopback.
    const canary = pod('podinfo/podinfo-canary-0');
    const viaEnv = await runInPod<{ status: number; body: string }>(canary.netns as string, httpGetScript('http://podinfo-canary:9898/'), { ...(canary.env ?? {}) });
    assert.equal(viaEnv.status, 200, viaEnv.body);
    assert.equal((JSON.parse(viaEnv.body) as { hostname: string }).hostname, 'podinfo-canary-0');
    const viaDns = await runInPod<{ status: number; body: string }>(canary.netns as string, httpGetScript('http://podinfo-canary.podinfo.svc.cluster.local:9898/'));
    assert.equal(viaDns.status, 200, viaDns.body);
  });

  it('carries raw TCP to a service address through capture, over mTLS to the pod behind it', async () => {
    // No proxy environment: the name resolves to the service address, iptables redirects to the
    // sidecar, which reads the original destination; STRICT refuses any plaintext path to the app.
    const canary = pod('podinfo/podinfo-canary-0');
    const echo = await runInPod<{ data?: string; error?: string }>(canary.netns as string, tcpEchoScript('echo.podinfo', 9000, 'ping\n'));
    assert.deepEqual(echo, { data: 'echo:ping\n' });
  });

  it('outrigger down leaves no namespace, link or rule', async () => {
    const r = await outrigger(['down', '--dir', dir, '--timeout', '20']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(leftovers(id), []);
  });
});
