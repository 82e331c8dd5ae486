// Undeclared inbound ports through real proxies, config translated from YAML: HTTP/1.1 and h2c reach the
// detected-HTTP chain and raw TCP the TCP chain, from a meshed client over the mTLS tunnel and from
// plaintext (PERMISSIVE), and from the client sidecar's forward proxy (CONNECT takes the outbound TCP
// chain, a proxied request the HTTP one); MySQL's well-known port is TCP and its server-first banner is never held.
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa, type TestCa } from '../proxy/certs.ts';
import { push, request, startProxy } from '../proxy/harness.ts';

// `web` and `stream` are undeclared (no protocol in the name); `db` is undeclared on 3306.
const yaml = `apiVersion: v1
kind: Service
metadata: {name: orders, namespace: shop}
spec:
  selector: {app: orders}
  ports: [{name: web, port: 80, targetPort: 8080}, {name: stream, port: 7000}, {name: db, port: 3306}]
`;

type Proxy = Awaited<ReturnType<typeof startProxy>>;
let ca: TestCa;
let httpApp: Awaited<ReturnType<typeof versionEcho>> | undefined;
let echoApp: net.Server;
let bannerApp: net.Server;
let server: Proxy;
let client: Proxy;

const view = (ns: string, name: string, appPorts: Record<number, number>): ProxyView =>
  ({ id: `sidecar~127.0.0.1~${name}-0.${ns}~${ns}.svc.cluster.local`, role: 'sidecar', namespace: ns, workloadName: name, serviceAccount: name, labels: { app: name }, ip: '127.0.0.1', appPorts }) as ProxyView;

function translated(workloads: WorkloadInstance[], proxy: ProxyView): TypedAny[] {
  const snapshot = buildSnapshot(loadText(yaml).resources, workloads, '1');
  return [...buildProxyResources(snapshot, proxy).values()].flatMap((m) => [...m.values()]);
}

async function listen(s: net.Server): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as net.AddressInfo).port;
}

/** Reads from a socket-like stream until `done` says the text is complete (bounded by the test runner's timeout). */
function readUntil(s: NodeJS.ReadableStream, done: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    s.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (done(text)) resolve(text);
    });
    s.on('error', reject);
    s.on('end', () => resolve(text));
  });
}

async function h2cGet(port: number, authority: string, path: string): Promise<{ status: number; body: string }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const req = session.request({ ':method': 'GET', ':authority': authority, ':path': path });
    const status = await new Promise<number>((resolve, reject) => {
      req.once('response', (h) => resolve(Number(h[':status'])));
      req.once('error', reject);
    });
    const body = await readUntil(req, () => false);
    return { status, body };
  } finally {
    session.close();
  }
}

/**
 * In process mode a plaintext connection's destination is the listener's own port, so each port gets
 * a copy of the translated virtualInbound bound as that port: what iptables' original destination
 * gives Istio's virtualInbound.
 */
function plaintextCopies(resources: TypedAny[], ports: number[]): TypedAny[] {
  const inbound = resources.find((r) => r['@type'] === TypeUrl.Listener && r['name'] === 'virtualInbound');
  assert.ok(inbound, 'virtualInbound translated');
  return ports.map((p) => ({ ...inbound, name: `plaintext_${p}`, address: { socket_address: { address: '0.0.0.0', port_value: p } } }));
}

/**
 * The app on the undeclared HTTP port speaks both HTTP/1.1 and h2c (chosen on the first bytes, as a
 * server with prior-knowledge h2c does: each connection is spliced to a real HTTP/1.1 or h2c server),
 * and says which one it was asked in.
 */
async function versionEcho(): Promise<{ port: number; servers: net.Server[] }> {
  const answer = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, url: req.url, version: req.httpVersion, headers: req.headers, body }));
    });
  };
  const h1 = http.createServer(answer);
  const h2 = http2.createServer(answer);
  const ports = { h1: await listen(h1), h2: await listen(h2) };
  const front = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', (first: Buffer) => {
      const app = net.connect(first.toString('latin1').startsWith('PRI * HTTP/2.0') ? ports.h2 : ports.h1, '127.0.0.1');
      app.on('error', () => s.destroy());
      app.write(first);
      s.pipe(app).pipe(s);
    });
  });
  return { port: await listen(front), servers: [front, h1, h2] };
}

before(async () => {
  ca = await makeCa();
  httpApp = await versionEcho();
  echoApp = net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', (c) => s.write(`echo:${c.toString()}`));
  });
  // Server-first: it greets before the client says anything (a MySQL handshake stand-in).
  bannerApp = net.createServer((s) => {
    s.on('error', () => {});
    s.end('mysql-banner 8.0\n');
  });
  const appPorts = { 8080: httpApp.port, 7000: await listen(echoApp), 3306: await listen(bannerApp) };
  const ordersView = view('shop', 'orders', appPorts);
  server = await startProxy({ nodeId: ordersView.id, metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'orders', LABELS: { app: 'orders' } } });
  server.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/shop/sa/orders'));
  const root: TypedAny = { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } };
  const orders = (tunnelPort: number): WorkloadInstance => ({ name: 'orders-0', namespace: 'shop', labels: { app: 'orders' }, serviceAccount: 'orders', address: '127.0.0.1', appPorts, tunnelAddress: `127.0.0.1:${tunnelPort}`, healthy: true, source: 'deployment' });
  const serverResources = translated([orders(15008)], ordersView);
  push(server.proxy, [...serverResources, ...plaintextCopies(serverResources, [8080, 7000, 3306]), root]);
  const tunnel = await server.port('connect_terminate');
  const cartView = view('shop', 'cart', {});
  client = await startProxy({ nodeId: cartView.id, metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'cart', LABELS: { app: 'cart' } } });
  client.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/shop/sa/cart'));
  push(client.proxy, [...translated([orders(tunnel)], cartView), root]);
});

after(async () => {
  await client?.close();
  await server?.close();
  for (const s of httpApp?.servers ?? []) s.close();
  echoApp?.close();
  bannerApp?.close();
});

// A regression that leaves a connection waiting fails the test instead of hanging the suite.
const bounded = { timeout: 20_000 };
const cartIdentity = /URI=spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart/;

test('meshed HTTP/1.1 to an undeclared port takes its HTTP chain through the tunnel', bounded, async () => {
  const res = await request(await client.port('virtualOutbound'), 'http://orders.shop/h1', { host: 'orders.shop' });
  assert.equal(res.status, 200, res.body);
  const seen = JSON.parse(res.body) as { url: string; version: string; headers: Record<string, string> };
  assert.equal(seen.url, '/h1');
  assert.equal(seen.version, '1.1', 'the app is asked in the protocol the client spoke, not the tunnel\'s HTTP/2');
  assert.match(seen.headers['x-forwarded-client-cert'] ?? '', cartIdentity, 'the inbound HTTP chain saw the verified caller');
});

test('meshed h2c to an undeclared port takes its HTTP chain through the tunnel', bounded, async () => {
  const res = await h2cGet(await client.port('virtualOutbound'), 'orders.shop', '/h2c');
  assert.equal(res.status, 200, res.body);
  const seen = JSON.parse(res.body) as { url: string; version: string; headers: Record<string, string> };
  assert.equal(seen.url, '/h2c');
  assert.equal(seen.version, '2.0', 'use_downstream_protocol_config: an h2c client reaches the app in HTTP/2');
  assert.equal(seen.headers['x-outrigger-protocol'], undefined, 'the carried protocol ends at the destination sidecar');
  assert.match(seen.headers['x-forwarded-client-cert'] ?? '', cartIdentity);
});

test('a tunnelled CONNECT to an undeclared port takes its TCP chain, even where the app speaks HTTP', bounded, async () => {
  const cart = await ca.issue('spiffe://cluster.local/ns/shop/sa/cart');
  const session = http2.connect(`https://127.0.0.1:${await server.port('connect_terminate')}`, { ...cart, ca: ca.ca, checkServerIdentity: () => undefined });
  try {
    const tcp = session.request({ ':method': 'CONNECT', ':authority': '127.0.0.1:7000' });
    tcp.write('ping\r\n');
    assert.equal(await readUntil(tcp, (t) => t.includes('\r\n')), 'echo:ping\r\n');
    tcp.close();
    // Raw HTTP bytes through CONNECT reach the app untouched: a TCP chain adds no x-forwarded-client-cert.
    const raw = session.request({ ':method': 'CONNECT', ':authority': '127.0.0.1:8080' });
    raw.write('GET /raw HTTP/1.1\r\nhost: orders\r\nconnection: close\r\n\r\n');
    const reply = await readUntil(raw, (t) => t.includes('"body"'));
    assert.match(reply, /^HTTP\/1\.1 200/);
    assert.match(reply, /"url":"\/raw"/);
    assert.doesNotMatch(reply, /x-forwarded-client-cert/);
    raw.close();
  } finally {
    session.close();
  }
});

test("meshed raw TCP to an undeclared port: a CONNECT through the client sidecar takes the port's outbound TCP chain", bounded, async () => {
  const s = net.connect(await client.port('virtualOutbound'), '127.0.0.1');
  try {
    s.write('CONNECT orders.shop:7000 HTTP/1.1\r\nhost: orders.shop:7000\r\n\r\n');
    await readUntil(s, (t) => t.includes('\r\n\r\n'));
    s.write('ping\r\n');
    const text = await readUntil(s, (t) => t.includes('echo:'));
    assert.match(text, /echo:ping\r\n/, 'the bytes crossed the tunnel to the app untouched, not a 400 from an HTTP chain');
  } finally {
    s.destroy();
  }
});

test('one undeclared port, two outbound chains: CONNECT carries raw HTTP bytes as TCP, a proxied request takes the HTTP chain', bounded, async () => {
  const s = net.connect(await client.port('virtualOutbound'), '127.0.0.1');
  try {
    s.write('CONNECT orders.shop:80 HTTP/1.1\r\nhost: orders.shop:80\r\n\r\n');
    await readUntil(s, (t) => t.includes('\r\n\r\n'));
    s.write('GET /tunnelled HTTP/1.1\r\nhost: orders\r\nconnection: close\r\n\r\n');
    const reply = await readUntil(s, (t) => t.includes('"body"'));
    assert.match(reply, /HTTP\/1\.1 200[\s\S]*"url":"\/tunnelled"/);
    assert.doesNotMatch(reply, /x-forwarded-client-cert|x-request-id/, 'no HTTP connection manager on the way');
  } finally {
    s.destroy();
  }
  const res = await request(await client.port('virtualOutbound'), 'http://orders.shop/routed', { host: 'orders.shop' });
  assert.equal(res.status, 200, res.body);
  assert.match((JSON.parse(res.body) as { headers: Record<string, string> }).headers['x-forwarded-client-cert'] ?? '', cartIdentity);
});

test("meshed TCP to MySQL's well-known port gets the server's banner without sending a byte", bounded, async () => {
  const s = net.connect(await client.port('virtualOutbound'), '127.0.0.1');
  s.write('CONNECT orders.shop:3306 HTTP/1.1\r\nhost: orders.shop:3306\r\n\r\n');
  const text = await readUntil(s, (t) => t.includes('mysql-banner'));
  s.destroy();
  assert.match(text, /^HTTP\/1\.1 200[\s\S]*mysql-banner 8\.0/);
});

test('plaintext (PERMISSIVE) HTTP/1.1 and h2c are detected onto the HTTP chain', bounded, async () => {
  const port = await server.port('plaintext_8080');
  const h1 = await request(port, '/plain-h1', { host: 'orders' });
  assert.equal(h1.status, 200, h1.body);
  const seen = JSON.parse(h1.body) as { url: string; version: string; headers: Record<string, string> };
  assert.equal(seen.url, '/plain-h1');
  assert.equal(seen.version, '1.1');
  assert.ok(seen.headers['x-request-id'], 'the HTTP connection manager handled it');
  assert.equal(seen.headers['x-forwarded-client-cert'], undefined, 'no verified peer in plaintext');
  const h2 = await h2cGet(port, 'orders', '/plain-h2c');
  assert.equal(h2.status, 200, h2.body);
  const seenH2 = JSON.parse(h2.body) as { url: string; version: string };
  assert.equal(seenH2.url, '/plain-h2c');
  assert.equal(seenH2.version, '2.0', 'a sniffed h2c connection is forwarded to the app in HTTP/2');
});

test('plaintext (PERMISSIVE) bytes that are not HTTP take the TCP chain', bounded, async () => {
  const s = net.connect(await server.port('plaintext_7000'), '127.0.0.1');
  s.write('ping\r\n');
  const text = await readUntil(s, (t) => t.includes('\r\n'));
  s.destroy();
  assert.equal(text, 'echo:ping\r\n');
});

test('plaintext to the declared-TCP 3306 is not sniffed: the banner arrives first', bounded, async () => {
  const s = net.connect(await server.port('plaintext_3306'), '127.0.0.1');
  const text = await readUntil(s, (t) => t.includes('\n'));
  s.destroy();
  assert.equal(text, 'mysql-banner 8.0\n');
});

test('the destination sidecar names the service from its inbound cluster, which translation gives the istio.services metadata', bounded, async () => {
  const res = await request(await client.port('virtualOutbound'), 'http://orders.shop/service-label', { host: 'orders.shop' });
  assert.equal(res.status, 200, res.body);
  const stats = await request(server.admin, '/stats/prometheus');
  // The inbound telemetry config names no service; only the cluster's metadata can have said `orders`.
  assert.match(stats.body, /istio_requests_total\{reporter="destination",[^}]*destination_service="orders\.shop\.svc\.cluster\.local",destination_service_name="orders",destination_service_namespace="shop",[^}]*response_code="200"/);
});
