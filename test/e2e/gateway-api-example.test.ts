// examples/gateway-api, end to end: the seed's traffic management written with the Gateway API runs as
// written. A real `up` of the example's directory in this process; real requests through the port `up`
// prints for the Gateway's listener (X-Canary, beta users, the 90/10 split, the kept Istio authorization)
// and through an in-mesh caller's sidecar (the mesh HTTPRoute); and `outrigger analyze` of the example
// finds no error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { readState } from '../../src/runtime/state.ts';
import { upInProcess } from './up-in-process.ts';

const repo = path.resolve(import.meta.dirname, '../..');
const example = path.join(repo, 'examples/gateway-api');

interface Answer {
  status: number;
  /** `stable` or `canary` from podinfo's message (PODINFO_UI_MESSAGE), else ''. */
  version: string;
  body: string;
}

/** One GET on a kept-alive connection: `target` is a path (gateway) or an absolute URL (a sidecar's HTTP proxy port). */
function get(agent: http.Agent, port: number, target: string, headers: Record<string, string>, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, method, headers, agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => {
        let version = '';
        if (res.statusCode === 200) {
          try {
            version = /^podinfo (stable|canary)$/.exec((JSON.parse(body) as { message?: string }).message ?? '')?.[1] ?? '';
          } catch {}
        }
        resolve({ status: res.statusCode ?? 0, version, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * `n` requests, counted by the version that answered. The proxy draws the weighted backend from
 * Math.random, which cannot be seeded from outside, so the share is checked statistically: for 400
 * requests at 10 % the canary count is Binomial(400, 0.1) (mean 40, sd 6), and 16 to 72 (4 % to 18 %)
 * holds with probability above 1 - 3e-6.
 */
async function split(send: () => Promise<Answer>, n: number): Promise<{ stable: number; canary: number; other: string[] }> {
  const out = { stable: 0, canary: 0, other: [] as string[] };
  for (let i = 0; i < n; i++) {
    const r = await send();
    if (r.version === 'stable') out.stable++;
    else if (r.version === 'canary') out.canary++;
    else out.other.push(`${r.status} ${r.body.slice(0, 200)}`);
  }
  return out;
}

function assertSplit(t: TestContext, s: { stable: number; canary: number; other: string[] }, n: number, where: string): void {
  t.diagnostic(`${where}: stable ${s.stable}, canary ${s.canary} of ${n}`);
  assert.deepEqual(s.other, [], `${where}: every answer is podinfo's`);
  assert.ok(s.stable > 0 && s.canary > 0, `${where}: both versions answer (stable ${s.stable}, canary ${s.canary})`);
  const share = s.canary / n;
  assert.ok(share >= 0.04 && share <= 0.18, `${where}: canary share ${(share * 100).toFixed(1)} % of ${n}, want 10 % (4 % to 18 %)`);
}

test('outrigger analyze -f examples/gateway-api reports no error', () => {
  const r = spawnSync(process.execPath, [path.join(repo, 'bin/outrigger.mjs'), 'analyze', '-f', example, '-o', 'json'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const diagnostics = JSON.parse(r.stdout) as { severity: string; code: string; message: string }[];
  assert.deepEqual(
    diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.code} ${d.message}`),
    [],
  );
});

test('up -f examples/gateway-api: the Gateway routes by header and splits 90/10, the mesh route does the same for in-mesh callers', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-gateway-api-example-'));
  const state = path.join(dir, 'state');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const up = upInProcess(['-f', example, '--ephemeral-ports', '--dir', state]);
  try {
    // The Gateway's own proxy, its listener on the port `up` prints, in the ready line and the summary.
    const ready = await up.until(/^\[.*\] podinfo\/podinfo-gateway-istio-0: ready \(server port 80 on 127\.0\.0\.1:(\d+)\)$/);
    await up.until(/^mesh ready in /);
    const printed = await up.until(/^\s*gateway podinfo\/podinfo-gateway: http:\/\/127\.0\.0\.1:(\d+) \(80\)$/);
    const port = Number(printed[1]);
    assert.equal(port, Number(ready[1]));
    const components = readState(state)?.components ?? [];
    const names = components.map((c) => c.name);
    assert.ok(!names.includes('istio-system/istio-ingressgateway-0'), `the operator's ingress gateway is disabled: ${names.join(', ')}`);

    const host = { host: 'podinfo.example.com' };
    const viaGateway = (headers: Record<string, string> = {}, method = 'GET') => get(agent, port, '/', { ...host, ...headers }, method);
    // Serving means podinfo answering through the gateway (the apps may still be starting).
    const started = Date.now();
    for (;;) {
      const r = await viaGateway().catch(() => ({ status: 0, version: '', body: '' }));
      if (r.version) break;
      if (Date.now() - started > 60_000) assert.fail(`podinfo never answered through the gateway: ${r.status} ${r.body}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    // X-Canary: true always reaches the canary; so do beta users, by header or by cookie.
    for (let i = 0; i < 30; i++) {
      const r = await viaGateway({ 'x-canary': 'true' });
      assert.equal(r.version, 'canary', `request ${i} with X-Canary: true: ${r.status} ${r.body}`);
    }
    for (let i = 0; i < 5; i++) {
      assert.equal((await viaGateway({ 'x-user': 'beta-alice' })).version, 'canary');
      assert.equal((await viaGateway({ cookie: 'theme=dark; user=beta' })).version, 'canary');
    }
    // A host the listener does not serve finds no route.
    assert.equal((await get(agent, port, '/', { host: 'other.example.com' })).status, 404);

    // Everyone else: the HTTPRoute's 90/10 split.
    const n = 400;
    assertSplit(t, await split(() => viaGateway(), n), n, 'through the gateway');

    // The hop from the Gateway's proxy to podinfo is mutual TLS with the proxy's own identity, the
    // principal allow-from-ingress-gateway names.
    const headers = await get(agent, port, '/headers', host);
    assert.equal(headers.status, 200, headers.body);
    assert.match(headers.body, /URI=spiffe:\/\/cluster\.local\/ns\/podinfo\/sa\/podinfo-gateway-istio/);

    // The Istio authorization kept beside the routes: a DELETE is allowed by no layer.
    const denied = await viaGateway({}, 'DELETE');
    assert.equal(denied.status, 403, denied.body);

    // In the mesh: the test runner's sidecar (its HTTP proxy port, as its curl sends) takes the mesh
    // HTTPRoute whose parent is the Service podinfo.
    const runner = components.find((c) => c.name === 'istio-system/mesh-test-runner-0');
    const outbound = runner?.ports['proxy:15001'];
    assert.ok(outbound, JSON.stringify(runner));
    const inMesh = (headers: Record<string, string> = {}) => get(agent, outbound, 'http://podinfo.podinfo:9898/', { host: 'podinfo.podinfo:9898', ...headers });
    for (let i = 0; i < 10; i++) assert.equal((await inMesh({ 'x-canary': 'true' })).version, 'canary');
    assertSplit(t, await split(() => inMesh(), n), n, 'in the mesh');

    // The seed's own in-mesh suite, unchanged, passes against the Gateway API routes.
    const log = runner?.logFile ?? '';
    for (let i = 0; i < 300 && !/RESULT:/.test(readFileSync(log, 'utf8')); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.match(readFileSync(log, 'utf8'), /RESULT: PASS/);
  } finally {
    agent.destroy();
    await up.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
