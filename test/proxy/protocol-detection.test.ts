// Protocol detection on a plaintext listener with tls_inspector + http_inspector (Istio's shape for an
// undeclared inbound port): HTTP/1.1 and h2c reach the HTTP chain, a TLS ClientHello passes through the
// TCP chain to an app that terminates TLS itself, and a server-first protocol waits for
// listener_filters_timeout (Istio's protocolDetectionTimeout) before it falls back to TCP.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, hcm, ManualTimers, push, request, routeConfig, startProxy, tcpProxy } from './harness.ts';

// Timers the test fires by hand; only the detection timeout is set on them here.
const timers = new ManualTimers();
let env: Awaited<ReturnType<typeof startProxy>>;
let app: net.Server;
let tlsApp: tls.Server;
let port: number;
let serverFirstPort: number;

function sniffingListener(name: string, listenPort: number, tcpCluster: string, timeout: Record<string, unknown>): TypedAny {
  return {
    '@type': TypeUrl.Listener,
    name,
    address: { socket_address: { address: '0.0.0.0', port_value: listenPort } },
    listener_filters: [
      { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } },
      { name: 'envoy.filters.listener.http_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector' } },
    ],
    ...timeout,
    filter_chains: [
      { filter_chain_match: { application_protocols: ['http/1.1', 'h2c'] }, filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm('sniffed') }] },
      { filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: tcpProxy(tcpCluster) }] },
    ],
  };
}

before(async () => {
  const ca = await makeCa();
  const leaf = await ca.issue('spiffe://cluster.local/ns/default/sa/app');
  tlsApp = tls.createServer({ key: leaf.key, cert: leaf.cert }, (s) => {
    s.on('error', () => {});
    s.end(`tls app saw ${s.servername || 'no sni'}`);
  });
  await new Promise<void>((r) => tlsApp.listen(0, '127.0.0.1', r));
  // A server-first app: it greets before the client says anything.
  app = net.createServer((s) => {
    s.on('error', () => {});
    s.end('220 smtp.example.com ready\r\n');
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  env = await startProxy({ timers });
  push(env.proxy, [
    cluster('tls-app'),
    cluster('banner-app'),
    cla('tls-app', [{ port: (tlsApp.address() as net.AddressInfo).port }]),
    cla('banner-app', [{ port: (app.address() as net.AddressInfo).port }]),
    // Istio's default protocolDetectionTimeout is 0s: no timeout, detection waits for client bytes.
    sniffingListener('sniffed', 7070, 'tls-app', { listener_filters_timeout: { seconds: '0' }, continue_on_listener_filters_timeout: true }),
    sniffingListener('server_first', 7071, 'banner-app', { listener_filters_timeout: { seconds: '5' }, continue_on_listener_filters_timeout: true }),
    routeConfig('sniffed', [{ domains: ['*'], routes: [{ prefix: '/', direct: { status: 200, body: 'via hcm' } }] }]),
  ]);
  port = await env.port('sniffed');
  serverFirstPort = await env.port('server_first');
});

after(async () => {
  await env.close();
  app.close();
  tlsApp.close();
});

test('an HTTP/1.1 request line is detected and served by the HTTP chain', async () => {
  const r = await request(port, '/');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'via hcm');
});

test('the HTTP/2 preface (h2c) is detected and served by the HTTP chain', async () => {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', () => {});
  const body = await new Promise<string>((resolve, reject) => {
    const req = s.request({ ':path': '/', ':authority': 'a.example.com' });
    let out = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      out += c;
    });
    req.on('end', () => resolve(out));
    req.on('error', reject);
  });
  s.close();
  assert.equal(body, 'via hcm');
});

test('a TLS ClientHello passes through the TCP chain to the app, which terminates TLS', async () => {
  const text = await new Promise<string>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'db.example.com', rejectUnauthorized: false });
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => {
      out += c;
    });
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
  assert.equal(text, 'tls app saw db.example.com');
});

test('a server-first protocol gets its banner once the detection timeout passes (continue on timeout)', async () => {
  const s = net.connect(serverFirstPort, '127.0.0.1');
  s.on('error', () => {});
  let got = '';
  s.setEncoding('utf8');
  s.on('data', (c: string) => {
    got += c;
  });
  // The proxy sets the 5 s detection timer when the connection arrives; nothing reaches the app before it fires.
  let fired = false;
  for (let i = 0; i < 500 && !fired; i++) {
    await new Promise((r) => setTimeout(r, 10));
    if ([...timers.pending.values()].some((t) => t.ms === 5000)) {
      assert.equal(got, '', 'no banner while detecting');
      fired = timers.fire(5000);
    }
  }
  assert.ok(fired, 'the detection timer was set');
  for (let i = 0; i < 500 && !got.includes('\r\n'); i++) await new Promise((r) => setTimeout(r, 10));
  s.destroy();
  assert.equal(got, '220 smtp.example.com ready\r\n');
});
