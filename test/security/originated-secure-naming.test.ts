// Secure naming on TLS a DestinationRule (SIMPLE) originates toward a sidecar: it rides a tunnel CONNECT
// whose server identity the service's accounts must name (docs/security-mtls.md). When they stop naming
// the destination's, the next request is refused (503) as on the mesh path, for an HTTP/1.1 client (the
// `|tls` pool) and an HTTP/2 one (h2 in the rule's TLS) alike: an idle originated connection made under
// the old names is not reused for the refused peer's 5 s grace (test/proxy/secure-naming.test.ts covers
// the mesh path). Real sockets and TLS; config translated from YAML; the source's clock is a test one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { FakeClock, until } from '../resilience/fake-clock.ts';
import { makeCa, type TestCa } from '../proxy/certs.ts';
import { push, request, startProxy } from '../proxy/harness.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'outrigger-originated-sn-'));
const file = (name: string) => path.join(dir, name);

/** An IstioOperator whose mesh has a trust domain alias: every account gets a second name. */
const ALIAS = `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec: {meshConfig: {trustDomainAliases: [old-td]}}
---
`;

const yaml = () => `apiVersion: v1
kind: Service
metadata: {name: open, namespace: shop}
spec: {selector: {app: api}, ports: [{name: web, port: 80, targetPort: 9443}]}
---
apiVersion: v1
kind: Service
metadata: {name: plain, namespace: shop}
spec: {selector: {app: api}, ports: [{name: http, port: 80, targetPort: 9080}]}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: api, namespace: shop}
spec: {selector: {matchLabels: {app: api}}, mtls: {mode: PERMISSIVE}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: open, namespace: shop}
spec: {host: open.shop.svc.cluster.local, trafficPolicy: {tls: {mode: SIMPLE, caCertificates: ${file('ca.pem')}, sni: api.example.com, subjectAltNames: [api.example.com]}}}
`;

type Proxy = Awaited<ReturnType<typeof startProxy>>;
let meshCa: TestCa;
let tlsApp: http2.Http2SecureServer;
/** TLS connections the app accepted: each is one the source originated. */
let appHandshakes = 0;
let plainApp: net.Server;
let relay: net.Server;
/** Both ends of every connection the relay carries. */
const relayed: net.Socket[] = [];
/** Each connection the relay carries (a tunnel): closed once either end has. */
const tunnels: { closed: boolean }[] = [];
let server: Proxy;
let client: Proxy;
let apiWorkload: WorkloadInstance;
const clock = new FakeClock();

const view = (name: string, appPorts: Record<number, number>): ProxyView =>
  ({ id: `sidecar~127.0.0.1~${name}-0.shop~shop.svc.cluster.local`, role: 'sidecar', namespace: 'shop', workloadName: name, serviceAccount: name, labels: { app: name }, ip: '127.0.0.1', appPorts }) as ProxyView;
const cartView = view('cart', {});

function translated(proxy: ProxyView, serviceAccount: string, mesh = ''): TypedAny[] {
  const { resources, diagnostics } = loadText(mesh + yaml());
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const snapshot = buildSnapshot(resources, [{ ...apiWorkload, serviceAccount }], '1');
  return [...buildProxyResources(snapshot, proxy).values()].flatMap((m) => [...m.values()]);
}
const rootSecret = (): TypedAny => ({ '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: meshCa.ca } } });
/** Runs the source's clock on while `pending` is open (retry back-offs run on it), though never as far as the refused peer's 5 s grace. */
async function ticking<T>(pending: Promise<T>): Promise<T> {
  let done = false;
  void pending.finally(() => (done = true)).catch(() => {});
  for (let i = 0; i < 200 && !done; i++) {
    await new Promise((r) => setTimeout(r, 5));
    clock.advance(10);
  }
  return pending;
}
/** An HTTP/1.1 request through the source sidecar. */
const call = async (host: string) => ticking(request(await client.port('virtualOutbound'), '/hello', { host: `${host}.shop` }));
/** An HTTP/2 (h2c) request through the source sidecar: the undeclared port forwards it as h2, in the rule's TLS. */
async function callH2(host: string): Promise<{ status: number; body: string }> {
  const session = http2.connect(`http://127.0.0.1:${await client.port('virtualOutbound')}`);
  session.on('error', () => {});
  try {
    return await ticking(
      new Promise((resolve, reject) => {
        const req = session.request({ ':method': 'GET', ':path': '/hello', ':authority': `${host}.shop` }, { endStream: true });
        let status = 0;
        let body = '';
        req.on('response', (h) => (status = Number(h[':status'])));
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => resolve({ status, body }));
        req.on('error', reject);
      }),
    );
  } finally {
    session.close();
  }
}
const listening = (s: net.Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as net.AddressInfo).port)));

before(async () => {
  meshCa = await makeCa();
  const appCa = await makeCa('app-root');
  const serving = await appCa.issueWithSans([{ type: 'dns', value: 'api.example.com' }]);
  writeFileSync(file('ca.pem'), appCa.ca);
  // HTTP/1.1 and h2 in the app's own TLS; it says which it was spoken to in.
  tlsApp = http2.createSecureServer({ ...serving, allowHTTP1: true }, (req, res) => res.end(`tls app ${req.httpVersion}`));
  plainApp = http.createServer((_req, res) => res.end('plain app'));
  tlsApp.on('secureConnection', () => appHandshakes++);
  const tlsPort = await listening(tlsApp);
  const plainPort = await listening(plainApp);
  const appPorts = { 9443: tlsPort, 9080: plainPort };
  const apiView = view('api', appPorts);
  apiWorkload = { name: 'api-0', namespace: 'shop', labels: { app: 'api' }, serviceAccount: 'api', address: '127.0.0.1', appPorts, tunnelAddress: '127.0.0.1:15008', healthy: true, source: 'deployment' };
  server = await startProxy({ nodeId: apiView.id, metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'api', LABELS: { app: 'api' } } });
  server.proxy.secrets.setLocal('default', await meshCa.issue('spiffe://cluster.local/ns/shop/sa/api'));
  push(server.proxy, [...translated(apiView, 'api'), rootSecret()]);
  // The source reaches the destination's tunnel port through a relay the last test cuts.
  const tunnelPort = await server.port('connect_terminate');
  relay = net.createServer((s) => {
    const t = net.connect(tunnelPort, '127.0.0.1');
    relayed.push(s, t);
    const tunnel = { closed: false };
    tunnels.push(tunnel);
    for (const end of [s, t]) end.once('close', () => (tunnel.closed = true));
    s.on('error', () => t.destroy());
    t.on('error', () => s.destroy());
    s.pipe(t).pipe(s);
  });
  apiWorkload = { ...apiWorkload, tunnelAddress: `127.0.0.1:${await listening(relay)}` };
  client = await startProxy({ nodeId: cartView.id, metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'cart', LABELS: { app: 'cart' } }, timers: clock });
  client.proxy.secrets.setLocal('default', await meshCa.issue('spiffe://cluster.local/ns/shop/sa/cart'));
  push(client.proxy, [...translated(cartView, 'api'), rootSecret()]);
});

after(async () => {
  await client?.close();
  await server?.close();
  tlsApp?.close();
  plainApp?.close();
  for (const s of relayed) s.destroy();
  relay?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('once the service no longer names the destination’s identity, the next request is refused on the mesh path and on the originated-TLS paths alike', async () => {
  // Every path works under the original names, and leaves an idle connection (or session) in its pool.
  assert.equal((await call('plain')).status, 200);
  const first = await call('open');
  assert.equal(first.status, 200, first.body);
  assert.equal(first.body, 'tls app 1.1');
  const firstH2 = await callH2('open');
  assert.equal(firstH2.status, 200, firstH2.body);
  assert.equal(firstH2.body, 'tls app 2.0');
  // The service's accounts change: the destination (sa/api) is no longer one of them.
  push(client.proxy, [...translated(cartView, 'impostor'), rootSecret()], 'v2');
  const mesh = await call('plain');
  assert.equal(mesh.status, 503, 'the mesh path checks the next request again (control)');
  const originated = await call('open');
  assert.equal(originated.status, 503, `HTTP/1.1 in the rule's TLS must not keep reaching a refused peer; got ${originated.status} ${originated.body}`);
  const originatedH2 = await callH2('open');
  assert.equal(originatedH2.status, 503, `h2 in the rule's TLS must not keep reaching a refused peer; got ${originatedH2.status} ${originatedH2.body}`);
});

test('past the refused peer’s grace its session is gone and a new connection is checked: 503', async () => {
  // The refused peer's tunnels are gone once its grace has run out (those idle at the change went then).
  const open = tunnels.filter((t) => !t.closed);
  clock.advance(6_000);
  await until(() => open.every((t) => t.closed), 'the refused peer’s tunnels closed');
  const again = await call('open');
  assert.equal(again.status, 503, `${again.status} ${again.body}`);
  const againH2 = await callH2('open');
  assert.equal(againH2.status, 503, `${againH2.status} ${againH2.body}`);
});

test('names narrowed but still naming the destination’s identity leave its originated connections in use', async () => {
  // The account in the trust domain and in an alias: two names, then the alias goes.
  push(client.proxy, [...translated(cartView, 'api', ALIAS), rootSecret()], 'v3');
  assert.equal((await call('open')).status, 200);
  assert.equal((await callH2('open')).status, 200);
  const dialed = appHandshakes;
  push(client.proxy, [...translated(cartView, 'api'), rootSecret()], 'v4');
  const h1 = await call('open');
  assert.equal(h1.status, 200, h1.body);
  const h2 = await callH2('open');
  assert.equal(h2.status, 200, h2.body);
  assert.equal(appHandshakes, dialed, 'the idle originated connection and session are reused, not dialed again');
});

test('an originated h2 session whose tunnel connection is lost is not left to take requests it cannot answer', { timeout: 15_000 }, async () => {
  assert.equal((await callH2('open')).status, 200);
  // The tunnel's TCP connection goes (the destination restarts, a network fault): its CONNECT streams with it.
  const sockets = relayed.splice(0);
  const closed = sockets.map((s) => new Promise((r) => (s.destroyed ? r(undefined) : s.once('close', r))));
  for (const s of sockets) s.destroy();
  await Promise.all(closed);
  const again = await callH2('open');
  assert.equal(again.status, 200, `${again.status} ${again.body}`);
});
