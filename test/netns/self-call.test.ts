// A pod calling itself in netns mode, as Istio's sidecar sends it: the app's call to its own Service goes
// out through its sidecar and back in through the same sidecar's inbound listener (mTLS under STRICT,
// plaintext under DISABLE), so the pod's AuthorizationPolicy and destination telemetry apply; the
// sidecar's own plaintext passthrough to its pod address meets the inbound listener too (Istio's
// ISTIO_IN_REDIRECT for the proxy's traffic over lo), while the app's direct call to its own address
// stays direct, as in Istio.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sweepMesh } from '../../src/runtime/netns/pod-network.ts';
import type { ComponentState, MeshState } from '../../src/runtime/state.ts';
import { httpGetScript, netnsUnavailable, runInPod } from './pod-processes.ts';

const skip = netnsUnavailable();
const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/outrigger.mjs');
const fixture = path.join(import.meta.dirname, 'fixtures/self-call');
const ownPrincipal = 'spiffe://cluster.local/ns/apps/sa/default';

function outrigger(args: string[], timeoutMs = 90_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: err && typeof err.code !== 'number' ? `${stderr}${err.message}` : stderr });
    });
  });
}

/** The destination side's `istio_requests_total` series of one pod's sidecar, as label maps with their value. */
async function destinationRequests(address: string): Promise<{ labels: Record<string, string>; value: number }[]> {
  const text = await new Promise<string>((resolve, reject) => {
    http.get(`http://${address}:15090/stats/prometheus`, { timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  return text
    .split('\n')
    .filter((l) => l.startsWith('istio_requests_total{') && l.includes('reporter="destination"'))
    .map((l) => ({
      labels: Object.fromEntries([...l.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] as string, m[2] as string])),
      value: Number(l.slice(l.lastIndexOf(' ') + 1)),
    }));
}

describe('a pod calling itself in netns mode', { skip }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'or-netns-self-'));
  let id = '';
  let state: MeshState;
  const pod = (name: string): ComponentState => state.components.find((c) => c.name === name) ?? assert.fail(`no ${name}`);

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

  it("sends a call to its own Service through its inbound side over mTLS: its policy refuses /env, its telemetry names its own principal", async () => {
    const strict = pod('apps/strict-0');
    // By DNS capture, and through the proxy environment (the forward proxy).
    for (const env of [{}, strict.env ?? {}]) {
      const denied = await runInPod<{ status: number; body: string }>(strict.netns as string, httpGetScript('http://strict.apps/env'), env);
      assert.equal(denied.status, 403, JSON.stringify(denied));
      assert.match(denied.body, /denied by apps\/no-env/);
      const ok = await runInPod<{ status: number; body: string }>(strict.netns as string, httpGetScript('http://strict.apps/'), env);
      assert.equal(ok.status, 200, JSON.stringify(ok));
    }
    const seen = (await destinationRequests(strict.address as string)).filter((s) => s.labels['response_code'] === '403');
    assert.equal(seen.reduce((n, s) => n + s.value, 0), 2, JSON.stringify(seen));
    for (const s of seen) {
      assert.equal(s.labels['connection_security_policy'], 'mutual_tls');
      assert.equal(s.labels['source_principal'], ownPrincipal);
      assert.equal(s.labels['source_workload'], 'strict');
    }
  });

  it('sends a call to its own Service through its inbound side in plaintext when its port is DISABLE', async () => {
    const plain = pod('apps/plain-0');
    const denied = await runInPod<{ status: number; body: string }>(plain.netns as string, httpGetScript('http://plain.apps/env'));
    assert.equal(denied.status, 403, JSON.stringify(denied));
    assert.match(denied.body, /denied by apps\/no-env/);
    const seen = (await destinationRequests(plain.address as string)).filter((s) => s.labels['response_code'] === '403');
    assert.equal(seen.reduce((n, s) => n + s.value, 0), 1, JSON.stringify(seen));
    assert.equal(seen[0]?.labels['connection_security_policy'], 'none');
    assert.equal(seen[0]?.labels['source_principal'], 'unknown');
  });

  it("takes its sidecar's plaintext passthrough to its own pod address into the inbound listener: refused on STRICT, judged on DISABLE", async () => {
    const strict = pod('apps/strict-0');
    const plain = pod('apps/plain-0');
    // The app asks its sidecar (the proxy environment) for its own pod address: the sidecar passes it
    // through in plaintext, and its inbound listener, not the app, answers.
    const refused = await runInPod<{ status?: number; body?: string; error?: string }>(strict.netns as string, httpGetScript(`http://${strict.address}:9898/env`), strict.env ?? {});
    assert.ok(refused.status === undefined || refused.status >= 500, `STRICT must refuse the sidecar's plaintext, got ${JSON.stringify(refused)}`);
    const judged = await runInPod<{ status: number; body: string }>(plain.netns as string, httpGetScript(`http://${plain.address}:9898/env`), plain.env ?? {});
    assert.equal(judged.status, 403, JSON.stringify(judged));
    assert.match(judged.body, /denied by apps\/no-env/);
    // The app's own direct call to its address does not pass its sidecar, in Istio either.
    const direct = await runInPod<{ status: number }>(strict.netns as string, httpGetScript(`http://${strict.address}:9898/`));
    assert.equal(direct.status, 200, JSON.stringify(direct));
  });
});
