// Sidecar to sidecar over the mesh tunnel: mutual TLS with SPIFFE certificates, HTTP/1.1 as HTTP/1.1
// connections carried on the HTTP/2 session and HTTP/2 as h2 requests, both carrying the target port,
// TCP as h2 CONNECT; the destination sees the caller's identity; a client without a mesh certificate is
// refused.
import assert from 'node:assert/strict';
import type http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { TUNNEL_SESSION_WINDOW, TUNNEL_STREAM_WINDOW } from '../../src/proxy/tunnel/mesh-tls.ts';
import { until } from '../resilience/fake-clock.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, echoBackend, echoHandler, hcm, listener, push, request, routeConfig, startProxy, tcpProxy } from './harness.ts';
import { createHash, X509Certificate } from 'node:crypto';

const rootSecret = (ca: string): TypedAny => ({ '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca } } });

let clientCertHash = '';
let client: Awaited<ReturnType<typeof startProxy>>;
let server: Awaited<ReturnType<typeof startProxy>>;
let app: Awaited<ReturnType<typeof echoBackend>>;
let tcpApp: net.Server;
let ca: Awaited<ReturnType<typeof makeCa>>;
/** Requests to `/hold` the app has not answered: it answers them all once HELD are waiting. */
const held: http.ServerResponse[] = [];
const HELD = 4;

before(async () => {
  ca = await makeCa();
  const echo = echoHandler([]);
  app = await echoBackend((req, res) => {
    if (req.url !== '/hold') return echo(req, res);
    held.push(res);
    if (held.length === HELD) for (const r of held.splice(0)) r.end(`held ${req.httpVersion}`);
  });
  tcpApp = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => tcpApp.listen(0, '127.0.0.1', r));
  const tcpPort = (tcpApp.address() as net.AddressInfo).port;

  server = await startProxy({ nodeId: 'sidecar~127.0.0.1~podinfo.podinfo~podinfo.svc.cluster.local' });
  server.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/podinfo/sa/podinfo'));
  push(server.proxy, [
    cluster('inbound|9898||'),
    cluster('inbound|5432||'),
    cla('inbound|9898||', [{ port: app.port }]),
    cla('inbound|5432||', [{ port: tcpPort }]),
    listener('virtualInbound', 15006, [
      { port: 9898, filter: hcm('inbound|9898||') },
      { port: 5432, filter: tcpProxy('inbound|5432||') },
    ]),
    listener('connect_terminate', 15008, []),
    routeConfig('inbound|9898||', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'inbound|9898||' }] }]),
    rootSecret(ca.ca),
  ]);
  const tunnelPort = await server.port('connect_terminate');

  client = await startProxy({ metadata: { NAMESPACE: 'frontend', WORKLOAD_NAME: 'web', LABELS: { app: 'web', version: 'v1' } } });
  const clientCert = await ca.issue('spiffe://cluster.local/ns/frontend/sa/web');
  clientCertHash = createHash('sha256').update(new X509Certificate(clientCert.cert).raw).digest('hex');
  client.proxy.secrets.setLocal('default', clientCert);
  push(client.proxy, [
    cluster('outbound|9898||podinfo.podinfo.svc.cluster.local', { mtls: [] }),
    cluster('outbound|5432||db.podinfo.svc.cluster.local', { mtls: [] }),
    cla('outbound|9898||podinfo.podinfo.svc.cluster.local', [{ port: tunnelPort, mesh: { targetPort: 9898 } }]),
    cla('outbound|5432||db.podinfo.svc.cluster.local', [{ port: tunnelPort, mesh: { targetPort: 5432 } }]),
    listener('virtualOutbound', 15001, [
      { port: 9898, filter: hcm('9898') },
      { port: 5432, filter: tcpProxy('outbound|5432||db.podinfo.svc.cluster.local') },
    ]),
    routeConfig('9898', [{ domains: ['podinfo.podinfo.svc.cluster.local', 'podinfo.podinfo', 'podinfo.podinfo:9898'], routes: [{ prefix: '/', cluster: 'outbound|9898||podinfo.podinfo.svc.cluster.local' }] }]),
    rootSecret(ca.ca),
  ]);
});

after(async () => {
  await client.close();
  await server.close();
  app.server.close();
  tcpApp.close();
});

test('HTTP through the forward proxy and the mTLS tunnel reaches the app with the caller identity dropped from headers', async () => {
  const out = await client.port('virtualOutbound');
  const res = await request(out, 'http://podinfo.podinfo:9898/env?a=1', { host: 'podinfo.podinfo:9898', method: 'POST', body: 'ping' });
  assert.equal(res.status, 200, res.body);
  const seen = JSON.parse(res.body) as { url: string; body: string; headers: Record<string, string> };
  assert.equal(seen.url, '/env?a=1');
  assert.equal(seen.body, 'ping');
  assert.equal(seen.headers['x-outrigger-target-port'], undefined, 'mesh headers end at the destination sidecar');
  assert.equal(seen.headers['x-outrigger-peer'], undefined);
  // Istio's element: the server's identity, the client certificate's SHA-256, its (empty) subject, its URI.
  // (By is the proxy's own identity option, which this harness leaves unset.)
  assert.equal(seen.headers['x-forwarded-client-cert'], `By=;Hash=${clientCertHash};Subject="";URI=spiffe://cluster.local/ns/frontend/sa/web`, 'the app learns the verified caller');
});

test("the Host's case crosses the tunnel as the client wrote it, on the carried HTTP/1.1 path and from an HTTP/2 client (Envoy matches on a lower-cased copy)", async () => {
  const out = await client.port('virtualOutbound');
  const res = await request(out, '/host-case', { host: 'PodInfo.PodInfo:9898' });
  assert.equal(res.status, 200, res.body);
  assert.equal((JSON.parse(res.body) as { headers: Record<string, string> }).headers['host'], 'PodInfo.PodInfo:9898');
  const session = http2.connect(`http://127.0.0.1:${out}`);
  try {
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ':path': '/host-case-h2', ':authority': 'PodInfo.PodInfo:9898' }, { endStream: true });
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString()));
      req.on('end', () => resolve(text));
      req.on('error', reject);
    });
    assert.equal((JSON.parse(body) as { headers: Record<string, string> }).headers['host'], 'PodInfo.PodInfo:9898');
  } finally {
    session.close();
  }
});

test('an x-forwarded-client-cert sent by the app is never passed on as if verified', async () => {
  const out = await client.port('virtualOutbound');
  const res = await request(out, 'http://podinfo.podinfo:9898/', { host: 'podinfo.podinfo:9898', headers: { 'x-forwarded-client-cert': 'URI=spiffe://cluster.local/ns/admin/sa/root' } });
  const seen = JSON.parse(res.body) as { headers: Record<string, string> };
  assert.doesNotMatch(seen.headers['x-forwarded-client-cert'] ?? '', /ns\/admin/);
  assert.match(seen.headers['x-forwarded-client-cert'] ?? '', /URI=spiffe:\/\/cluster\.local\/ns\/frontend\/sa\/web$/);
});

test('TCP through CONNECT on the forward proxy and h2 CONNECT in the tunnel', async () => {
  const out = await client.port('virtualOutbound');
  const s = net.connect(out, '127.0.0.1');
  s.write('CONNECT db.podinfo:5432 HTTP/1.1\r\nhost: db.podinfo:5432\r\n\r\n');
  let buf = '';
  const echoed = await new Promise<string>((resolve, reject) => {
    s.on('error', reject);
    s.on('data', (c) => {
      buf += c.toString();
      if (buf.includes('\r\n\r\n') && !buf.includes('hello-tcp')) s.write('hello-tcp');
      if (buf.includes('hello-tcp')) resolve(buf);
    });
  });
  s.destroy();
  assert.match(echoed, /^HTTP\/1.1 200/);
});

/** The client's cluster for podinfo:9898, and its HTTP/2 tunnel upstream to the one endpoint. */
function podinfoTunnel() {
  const cluster = client.proxy.clusters.get('outbound|9898||podinfo.podinfo.svc.cluster.local');
  assert.ok(cluster);
  return { cluster, h2: cluster.upstream(cluster.endpoints[0] as (typeof cluster.endpoints)[number]) };
}

/** A counter of the destination sidecar (`name: value` in its stats). */
function serverStat(name: string): number {
  const m = new RegExp(`^${name.replaceAll('.', '\\.')}: (\\d+)$`, 'm').exec(server.proxy.metrics.renderStats());
  return m ? Number(m[1]) : 0;
}

test('HTTP/1.1 requests cross the tunnel as HTTP/1.1 connections carried on its HTTP/2 session: four at once, one TLS connection', async () => {
  const { cluster: c, h2 } = podinfoTunnel();
  const handshakes = serverStat('listener.0.0.0.0_15008.ssl.handshake');
  const out = await client.port('virtualOutbound');
  // The app answers only when all four are waiting, so the pool holds four connections at once.
  const all = await Promise.all(Array.from({ length: HELD }, () => request(out, 'http://podinfo.podinfo:9898/hold', { host: 'podinfo.podinfo:9898' })));
  assert.deepEqual(
    all.map((r) => `${r.status} ${r.body}`),
    Array.from({ length: HELD }, () => '200 held 1.1'),
  );
  assert.equal(h2.connections(), 1, 'one HTTP/2 session to the destination');
  assert.ok(c.connections() - h2.connections() >= HELD, `the HTTP/1.1 pool kept its ${HELD} connections (${c.connections() - h2.connections()})`);
  assert.ok(serverStat('listener.0.0.0.0_15008.ssl.handshake') - handshakes <= 1, 'at most the session\'s handshake, never one per connection');
});

test("an h2c client's request on an HTTP/1.1 cluster takes the HTTP/1.1 pool, as Envoy downgrades it; the app answers through it", async () => {
  const { h2 } = podinfoTunnel();
  const sessions = h2.connections();
  const out = await client.port('virtualOutbound');
  const session = http2.connect(`http://127.0.0.1:${out}`);
  try {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/h2c-downgraded', ':authority': 'podinfo.podinfo:9898' });
      let text = '';
      let code = 0;
      req.on('response', (h) => (code = Number(h[':status'])));
      req.on('data', (d: Buffer) => (text += d.toString()));
      req.on('end', () => resolve({ status: code, body: text }));
      req.on('error', reject);
      req.end('from-h2c');
    });
    assert.equal(status, 200, body);
    const seen = JSON.parse(body) as { url: string; body: string };
    assert.equal(seen.url, '/h2c-downgraded');
    assert.equal(seen.body, 'from-h2c', 'a body without content-length travels chunked on HTTP/1.1');
    assert.equal(h2.connections(), sessions, 'it took a carried HTTP/1.1 connection on the session already open');
  } finally {
    session.close();
  }
});

/** One raw HTTP/1.1 exchange on the tunnel port with a mesh certificate and ALPN http/1.1. */
async function rawTunnel(requestText: string): Promise<{ alpn: string | false; response: string }> {
  const tunnelPort = await server.port('connect_terminate');
  const cert = await ca.issue('spiffe://cluster.local/ns/frontend/sa/web');
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: tunnelPort, ...cert, ca: ca.ca, ALPNProtocols: ['http/1.1'], checkServerIdentity: () => undefined });
    let response = '';
    s.on('secureConnect', () => s.write(requestText));
    s.on('data', (d) => {
      response += d.toString();
    });
    s.on('end', () => resolve({ alpn: s.alpnProtocol ?? false, response }));
    s.on('error', reject);
  });
}

test('the tunnel takes HTTP/1.1 by ALPN: the target port header picks the chain, and the app learns the verified caller', async () => {
  const ok = await rawTunnel('GET /raw HTTP/1.1\r\nhost: podinfo.podinfo:9898\r\nx-outrigger-target-port: 9898\r\nconnection: close\r\n\r\n');
  assert.equal(ok.alpn, 'http/1.1');
  assert.match(ok.response, /^HTTP\/1.1 200/);
  assert.match(ok.response, /"x-forwarded-client-cert":"By=[^"]*;Hash=[0-9a-f]{64};Subject=\\"\\";URI=spiffe:\/\/cluster.local\/ns\/frontend\/sa\/web"/);
  const unknown = await rawTunnel('GET / HTTP/1.1\r\nhost: x\r\nx-outrigger-target-port: 7777\r\nconnection: close\r\n\r\n');
  assert.match(unknown.response, /^HTTP\/1.1 404/, 'a port with no inbound chain');
  const connect = await rawTunnel('CONNECT 127.0.0.1:5432 HTTP/1.1\r\nhost: 127.0.0.1:5432\r\n\r\n');
  assert.match(connect.response, /^HTTP\/1.1 405/, 'TCP takes HTTP/2 CONNECT, never HTTP/1.1');
});

test('an extended CONNECT for outrigger-http1 carries an HTTP/1.1 connection with the verified caller; any other :protocol gets 501', async () => {
  const tunnelPort = await server.port('connect_terminate');
  const cert = await ca.issue('spiffe://cluster.local/ns/frontend/sa/web');
  const session = http2.connect(`https://127.0.0.1:${tunnelPort}`, { ...cert, ca: ca.ca, checkServerIdentity: () => undefined });
  try {
    await new Promise((r) => session.once('remoteSettings', r));
    assert.equal(session.remoteSettings.enableConnectProtocol, true, 'the tunnel announces extended CONNECT');
    assert.equal(session.remoteSettings.initialWindowSize, TUNNEL_STREAM_WINDOW, 'a 256 KiB window per stream');
    await until(() => session.state.remoteWindowSize === TUNNEL_SESSION_WINDOW, 'the session window raised to 16 MiB');
    const open = (protocol: string) => session.request({ ':method': 'CONNECT', ':protocol': protocol, ':scheme': 'https', ':path': '/', ':authority': `127.0.0.1:${tunnelPort}` });
    const other = open('websocket');
    assert.equal(await new Promise((r) => other.once('response', (h) => r(h[':status']))), 501);
    const carried = open('outrigger-http1');
    assert.equal(await new Promise((r) => carried.once('response', (h) => r(h[':status']))), 200);
    carried.write('GET /carried HTTP/1.1\r\nhost: podinfo.podinfo:9898\r\nx-outrigger-target-port: 9898\r\nconnection: close\r\n\r\n');
    let response = '';
    carried.on('data', (d: Buffer) => (response += d.toString()));
    await new Promise((r) => carried.once('end', r));
    assert.match(response, /^HTTP\/1.1 200/);
    assert.match(response, /"url":"\/carried"/);
    assert.match(response, /"x-forwarded-client-cert":"By=[^"]*;Hash=[0-9a-f]{64};Subject=\\"\\";URI=spiffe:\/\/cluster.local\/ns\/frontend\/sa\/web"/, "the principal comes from the session's certificate");
  } finally {
    session.close();
  }
});

test('the tunnel refuses a client without a mesh certificate', async () => {
  const tunnelPort = await server.port('connect_terminate');
  const other = await makeCa('untrusted');
  const bad = await other.issue('spiffe://cluster.local/ns/evil/sa/evil');
  const outcome = await new Promise<string>((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: tunnelPort, ...bad, ca: ca.ca, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
    s.on('secureConnect', () => s.once('close', () => resolve('closed')));
    s.on('error', (e) => resolve(`error: ${e.message}`));
  });
  assert.notEqual(outcome, 'open');
  assert.ok(outcome === 'closed' || outcome.startsWith('error'), outcome);
});

test('inbound sees the peer SPIFFE ID and source workload on its connection', async () => {
  const seen: { principal?: string; workload?: string }[] = [];
  const probe = {
    name: 'outrigger.test.probe',
    typeUrls: ['outrigger.test.probe'],
    create: () => ({
      onRequest(ctx: { request: { connection: { peerPrincipal?: string; peer?: { workload: string } } } }) {
        const c = ctx.request.connection;
        seen.push({ ...(c.peerPrincipal ? { principal: c.peerPrincipal } : {}), ...(c.peer ? { workload: c.peer.workload } : {}) });
        return { action: 'continue' as const };
      },
    }),
  };
  server.proxy.xds.registerFilter(probe);
  push(server.proxy, [
    listener('virtualInbound', 15006, [
      {
        port: 9898,
        filter: {
          ...hcm('inbound|9898||'),
          http_filters: [
            { name: 'outrigger.test.probe', typed_config: { '@type': TypeUrl.TypedStruct, type_url: 'outrigger.test.probe', value: { fields: {} } } },
            { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
          ],
        },
      },
      { port: 5432, filter: tcpProxy('inbound|5432||') },
    ]),
    listener('connect_terminate', 15008, []),
  ]);
  const out = await client.port('virtualOutbound');
  const res = await request(out, 'http://podinfo.podinfo:9898/', { host: 'podinfo.podinfo:9898' });
  assert.equal(res.status, 200);
  assert.deepEqual(seen, [{ principal: 'spiffe://cluster.local/ns/frontend/sa/web', workload: 'web' }]);
});

test('network RBAC in front of tcp_proxy refuses a tunnelled TCP caller it denies', async () => {
  const denyWeb: TypedAny = {
    '@type': TypeUrl.NetworkRbac,
    stat_prefix: 'tcp.',
    rules: {
      action: 'DENY',
      policies: {
        'ns[podinfo]-policy[no-web]-rule[0]': {
          permissions: [{ any: true }],
          principals: [{ authenticated: { principal_name: { exact: 'spiffe://cluster.local/ns/frontend/sa/web' } } }],
        },
      },
    },
  };
  const inbound = listener('virtualInbound', 15006, [{ port: 9898, filter: hcm('inbound|9898||') }]);
  (inbound['filter_chains'] as unknown[]).push({
    filter_chain_match: { destination_port: { value: 5432 } },
    filters: [
      { name: 'envoy.filters.network.rbac', typed_config: denyWeb },
      { name: 'envoy.filters.network.tcp_proxy', typed_config: tcpProxy('inbound|5432||') },
    ],
  });
  push(server.proxy, [inbound, listener('connect_terminate', 15008, [])]);
  const out = await client.port('virtualOutbound');
  const s = net.connect(out, '127.0.0.1');
  s.write('CONNECT db.podinfo:5432 HTTP/1.1\r\nhost: db.podinfo:5432\r\n\r\n');
  let buf = '';
  const outcome = await new Promise<string>((resolve) => {
    s.on('error', () => resolve(buf));
    s.on('close', () => resolve(buf));
    s.on('data', (c) => {
      buf += c.toString();
      if (buf.includes('hello-tcp')) resolve(buf);
      else if (buf.includes('\r\n\r\n')) s.write('hello-tcp');
    });
  });
  s.destroy();
  assert.doesNotMatch(outcome, /hello-tcp/, 'the denied caller never reaches the app');
});

test("the forward proxy normalises with the chosen chain's mode (MERGE_SLASHES), not the default", async () => {
  // Last in this file: it re-pushes the client's outbound listener with merge_slashes on the 9898 chain.
  push(client.proxy, [
    listener('virtualOutbound', 15001, [
      { port: 9898, filter: hcm('9898', { normalize_path: { value: true }, merge_slashes: true }) },
      { port: 5432, filter: tcpProxy('outbound|5432||db.podinfo.svc.cluster.local') },
    ]),
  ]);
  const out = await client.port('virtualOutbound');
  const res = await request(out, 'http://podinfo.podinfo:9898//env//a?x=1', { host: 'podinfo.podinfo:9898' });
  assert.equal(res.status, 200, res.body);
  assert.equal((JSON.parse(res.body) as { url: string }).url, '/env/a?x=1');
});
