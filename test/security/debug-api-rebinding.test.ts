// The debug API (15014) answers /debug/* to a loopback peer only, but a loopback peer may be this
// machine's browser sent by a page of another site: one whose name a DNS rebinding points at 127.0.0.1
// reads the port as its own origin. /debug/config_dump holds every proxy's config, header values a
// VirtualService sets (bearer tokens) included. So /debug/* also wants a loopback Host (421, as the
// dashboard answers), and refuses a foreign Origin or `Sec-Fetch-Site: cross-site` (403). So do
// /metrics (it names every connected proxy) and /version for a loopback peer; a remote peer (a
// Prometheus on another host) reads them with any Host. What the CLI sends (src/controlplane/debug-client.ts) passes.
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { startDebugApi, type DebugApi } from '../../src/controlplane/debug-api.ts';
import { fetchDebug, resolveDebugAddress } from '../../src/controlplane/debug-client.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient, sidecarNode } from '../controlplane/raw-ads-client.ts';

const SECRET = 'Bearer upstream-api-key-123';
const dir = mkdtempSync(path.join(tmpdir(), 'or-debug-rebind-'));
writeFileSync(
  path.join(dir, 'vs.yaml'),
  `apiVersion: v1
kind: Service
metadata: {name: echo, namespace: test}
spec: {selector: {app: echo}, ports: [{name: http, port: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: test}
spec:
  hosts: [echo]
  http:
  - headers: {request: {set: {authorization: "${SECRET}"}}}
    route: [{destination: {host: echo}}]
`,
);

let cp: ControlPlane;
let debug: DebugApi;
let client: RawAdsClient;
let port: number;

before(async () => {
  cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, log: () => {} });
  debug = await startDebugApi(cp, '127.0.0.1:0');
  port = Number(debug.address.split(':').at(-1));
  client = new RawAdsClient(cp.xdsAddress, sidecarNode('test', 'web-0', 'web', 'web'));
  client.subscribe(TypeUrl.Listener);
  client.subscribe(TypeUrl.RouteConfiguration, ['8080']);
  await client.next();
  await client.next();
});

after(async () => {
  client.close();
  await debug.close();
  await cp.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A GET to the debug API over loopback with exactly these headers: no Host unless they name one. */
function get(pathname: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathname, headers, setHost: false, agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

const configPaths = ['/debug/config_dump?proxyID=web-0.test', '/debug/configz', '/debug/registryz', '/debug/syncz', '/debug/memz', '/debug/authenticationz?proxyID=web-0.test', '/nothing-here', '/metrics', '/version'];

test('the config dump holds the header value a VirtualService sets: what is at stake', async () => {
  const dump = await get('/debug/config_dump?proxyID=web-0.test', { host: `127.0.0.1:${port}` });
  assert.equal(dump.status, 200);
  assert.ok(dump.body.includes(SECRET));
});

test('a request addressed to a rebound name is refused with 421, on every endpoint', async () => {
  for (const host of ['attacker.example:15014', 'attacker.example', '127.0.0.1.attacker.example', `localhost.attacker.example:${port}`]) {
    for (const p of configPaths) {
      const r = await get(p, { host, origin: `http://${host}` });
      assert.equal(r.status, 421, `${p} with Host ${JSON.stringify(host)}`);
      assert.ok(!r.body.includes(SECRET));
      assert.match(r.body, /answers requests addressed to 127\.0\.0\.1, localhost or \[::1\] only/);
    }
  }
  // Without a Host at all (Node's server answers an HTTP/1.1 request without one 400 itself).
  const none = await get('/debug/config_dump?proxyID=web-0.test', {});
  assert.ok(none.status === 400 || none.status === 421, String(none.status));
  assert.ok(!none.body.includes(SECRET));
});

test('a request from a page of another site is refused with 403, whatever Host it names', async () => {
  const host = `127.0.0.1:${port}`;
  for (const headers of [{ origin: 'http://attacker.example' }, { origin: 'null' }, { origin: 'https://127.0.0.1.attacker.example' }, { 'sec-fetch-site': 'cross-site' }, { origin: `http://localhost:${port}`, 'sec-fetch-site': 'cross-site' }]) {
    const r = await get('/debug/config_dump?proxyID=web-0.test', { host, ...headers });
    assert.equal(r.status, 403, JSON.stringify(headers));
    assert.ok(!r.body.includes(SECRET));
  }
});

test('127.0.0.1, localhost and [::1] (any case, with or without the port) are served, and pages served from this machine', async () => {
  for (const host of [`127.0.0.1:${port}`, '127.0.0.1', `localhost:${port}`, `LocalHost:${port}`, `[::1]:${port}`, '[::1]']) {
    assert.equal((await get('/debug/registryz', { host })).status, 200, host);
  }
  for (const headers of [{ origin: `http://127.0.0.1:${port}` }, { origin: 'http://localhost:3000' }, { origin: 'http://[::1]:8080' }, { 'sec-fetch-site': 'same-origin' }, { 'sec-fetch-site': 'none' }]) {
    assert.equal((await get('/debug/configz', { host: `localhost:${port}`, ...headers })).status, 200, JSON.stringify(headers));
  }
});

test('/metrics and /version answer a loopback peer that addressed loopback, as a local Prometheus or the CLI does', async () => {
  for (const p of ['/metrics', '/version']) {
    assert.equal((await get(p, { host: `127.0.0.1:${port}` })).status, 200, p);
    assert.equal((await get(p, { host: `localhost:${port}`, 'sec-fetch-site': 'none' })).status, 200, p);
    // What a rebound page would read: the proxies' names in the config-size gauge.
    const r = await get(p, { host: 'attacker.example:15014', origin: 'http://attacker.example', 'sec-fetch-site': 'cross-site' });
    assert.equal(r.status, 421, p);
    assert.ok(!r.body.includes('web-0'), p);
    assert.equal((await get(p, { host: `127.0.0.1:${port}`, origin: 'http://attacker.example' })).status, 403, p);
  }
  assert.ok((await get('/metrics', { host: `127.0.0.1:${port}` })).body.includes('web-0'));
});

test('/metrics and /version answer a remote peer with any Host (a Prometheus on another host); /debug/* does not', async (t) => {
  const external = Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  if (!external) return t.skip('no non-loopback IPv4 address on this machine');
  const remote = await startDebugApi(cp, `${external}:0`);
  try {
    const remotePort = Number(remote.address.split(':').at(-1));
    const fetchFrom = (pathname: string) =>
      new Promise<number>((resolve, reject) => {
        http
          .get({ host: external, localAddress: external, port: remotePort, path: pathname, headers: { host: 'prometheus-target.internal:15014', origin: 'http://attacker.example' }, setHost: false, agent: false }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          })
          .on('error', reject);
      });
    assert.equal(await fetchFrom('/metrics'), 200);
    assert.equal(await fetchFrom('/version'), 200);
    assert.equal(await fetchFrom('/debug/configz'), 403);
  } finally {
    await remote.close();
  }
});

test("the CLI's debug client is served at 127.0.0.1, localhost, and the 0.0.0.0 a control plane bound on every interface prints", async () => {
  for (const flag of [`127.0.0.1:${port}`, `http://localhost:${port}`, `0.0.0.0:${port}`]) {
    const dump = await fetchDebug<unknown>(resolveDebugAddress(flag), '/debug/config_dump?proxyID=web-0.test');
    assert.ok(JSON.stringify(dump).includes(SECRET), flag);
    assert.equal(Array.isArray(await fetchDebug<unknown[]>(resolveDebugAddress(flag), '/debug/syncz')), true);
  }
});
