// Tunnel sessions under churn and over time. Connections carried on the session open and close
// constantly (max requests per connection), and none is refused for want of room. A session takes no
// new work past the certificate it was verified with: when the peer's certificate expires, the
// destination sends GOAWAY and closes its HTTP/1.1 connections (carried ones included) after the
// response in flight, and the source stops placing streams on the session and closes its idle carried
// connections instead of reusing them. What is open (a TCP stream) runs on, as on an Envoy connection:
// the certificate is checked at the handshake only. Real TLS and HTTP/2; the expiry waits run on test
// clocks, advanced past the one-day certificates. A session whose peer said GOAWAY runs on while its
// streams carry traffic, and is destroyed once it has written nothing for tcp_proxy's idle timeout.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { after, before, test } from 'node:test';
import { type FilterChain, TCP_PROXY_IDLE_TIMEOUT_MS } from '../../src/proxy/listener/compile-listener.ts';
import type { H1Response } from '../../src/proxy/http/h1-server.ts';
import { REFUSED_PEER_GRACE_MS, TUNNEL_CLIENT_STREAMS } from '../../src/proxy/tunnel/mesh-tls.ts';
import { TunnelServer } from '../../src/proxy/tunnel/tunnel-server.ts';
import { H1Pool } from '../../src/proxy/upstream/h1-client.ts';
import { H2Upstream } from '../../src/proxy/upstream/h2-upstream.ts';
import type { UpstreamError } from '../../src/proxy/upstream/upstream.ts';
import { FakeClock, until } from '../resilience/fake-clock.ts';
import { makeCa } from './certs.ts';

/** Milliseconds until a certificate expires, on the wall clock (the tunnel arms its expiry timers from it). */
const untilExpiry = (pem: string): number => Date.parse(new X509Certificate(pem).validTo) - Date.now();
const serverClock = new FakeClock();
let tunnel: TunnelServer;
let port: number;
let ca: Awaited<ReturnType<typeof makeCa>>;
let serverCert: { cert: string; key: string };

before(async () => {
  ca = await makeCa();
  serverCert = await ca.issue('spiffe://cluster.local/ns/app/sa/app');
  tunnel = new TunnelServer(0, {
    material: () => ({ ...serverCert, ca: ca.ca }),
    inboundChain: () => ({ name: 'http', handler: { kind: 'http' } }) as unknown as FilterChain,
    // A TCP stream echoes, for as long as it is open.
    serveStream: (stream) => stream.pipe(stream),
    serveRequest: (_chain, conn, _req, res) => {
      const body = `hello ${conn.peerPrincipal}`;
      (res as H1Response).writeHead(200, { 'content-length': body.length }).end(body);
    },
    timers: serverClock,
  });
  port = await tunnel.boundPort;
});

after(() => tunnel.close());

/** A source's HTTP/1.1 pool carried on its HTTP/2 tunnel session, with its own clock. */
async function source(clock: FakeClock, maxRequestsPerConnection = 0) {
  const cert = await ca.issue('spiffe://cluster.local/ns/web/sa/web');
  const tlsOptions = { ...cert, ca: ca.ca, checkServerIdentity: () => undefined };
  const session = new H2Upstream(`https://127.0.0.1:${port}`, { connectTimeoutMs: 2000, tls: () => ({ ...tlsOptions, ALPNProtocols: ['h2'] }), timers: clock, maxConcurrentStreams: TUNNEL_CLIENT_STREAMS });
  const pool = new H1Pool({
    host: '127.0.0.1',
    port,
    connectTimeoutMs: 2000,
    maxConnections: TUNNEL_CLIENT_STREAMS,
    idleTimeoutMs: 0,
    maxRequestsPerConnection,
    tls: () => ({ ...tlsOptions, ALPNProtocols: ['http/1.1'] }),
    carrier: () => session.carry(`127.0.0.1:${port}`),
    targetPortHeader: 'x-outrigger-target-port',
  });
  const get = (): Promise<string> =>
    new Promise((resolve, reject) => {
      let body = '';
      pool.request({ method: 'GET', path: '/', authority: 'app', scheme: 'http', headers: {}, targetPort: 8080 }, null, {
        onHead() {},
        onData(c) {
          body += c.toString();
          return true;
        },
        onEnd: () => resolve(body),
        onError: (err: UpstreamError) => reject(err),
      });
    });
  return {
    session,
    pool,
    get,
    async close() {
      await pool.close();
      await session.close();
    },
  };
}

test('a full session of carried connections, each closed after one request and replaced at once, is never refused a stream', async () => {
  const src = await source(new FakeClock(), 1);
  const failures: string[] = [];
  for (let round = 0; round < 20; round++) {
    const results = await Promise.allSettled(Array.from({ length: TUNNEL_CLIENT_STREAMS }, () => src.get()));
    for (const r of results) if (r.status === 'rejected') failures.push((r.reason as Error).message);
  }
  // Closed with END_STREAM each way, not reset: 2,000 resets would pass nghttp2's default limit, and the
  // destination would close the session under the requests on it.
  assert.deepEqual(failures.slice(0, 3), [], `${failures.length} of ${20 * TUNNEL_CLIENT_STREAMS} requests failed`);
  await src.close();
});

/** Writes `text` on a TCP stream and waits for its echo. */
async function echoes(stream: Duplex, text: string): Promise<void> {
  let got = '';
  const onData = (d: Buffer) => (got += d.toString());
  stream.on('data', onData);
  stream.write(text);
  await until(() => got === text, `the echo of ${text}`);
  stream.off('data', onData);
}

test("the destination: at the source's certificate expiry the carried connection closes and no new stream is served, but an open TCP stream runs on", async () => {
  const clientCert = await ca.issue('spiffe://cluster.local/ns/web/sa/raw');
  const session = http2.connect(`https://127.0.0.1:${port}`, { ...clientCert, ca: ca.ca, checkServerIdentity: () => undefined });
  session.on('error', () => {});
  await new Promise((r) => session.once('remoteSettings', r));
  const carried = session.request({ ':method': 'CONNECT', ':protocol': 'outrigger-http1', ':scheme': 'https', ':path': '/', ':authority': `127.0.0.1:${port}` });
  carried.on('error', () => {});
  let text = '';
  let ended = false;
  carried.on('data', (d: Buffer) => (text += d.toString()));
  carried.on('end', () => (ended = true));
  carried.write('GET / HTTP/1.1\r\nhost: app\r\nx-outrigger-target-port: 8080\r\n\r\n');
  await until(() => text.endsWith('hello spiffe://cluster.local/ns/web/sa/raw'), 'the carried response');
  // A long-lived TCP connection through the tunnel, opened before the expiry.
  const tcp = session.request({ ':method': 'CONNECT', ':authority': '127.0.0.1:8080' });
  tcp.on('error', () => {});
  await echoes(tcp, 'before');
  let closed = false;
  session.on('close', () => (closed = true));
  // The timers were armed at the handshake, a moment ago: two seconds short of the expiry, then one past it
  // (the grace, 5 s later, not yet).
  serverClock.advance(untilExpiry(clientCert.cert) - 2000);
  await new Promise((r) => setImmediate(r));
  assert.equal(ended, false, 'nothing happens before the certificate expires');
  serverClock.advance(3000);
  await until(() => ended, 'the carried connection closed');
  // GOAWAY: a stream opened now is not served.
  const late = session.request({ ':method': 'CONNECT', ':protocol': 'outrigger-http1', ':scheme': 'https', ':path': '/', ':authority': `127.0.0.1:${port}` });
  let refused = false;
  late.on('error', () => (refused = true));
  late.on('close', () => (refused ||= late.rstCode !== 0));
  late.on('response', () => assert.fail('a stream after the expiry was served'));
  await until(() => refused || closed, 'the late stream refused');
  // Long after the expiry (and past the grace a refused peer would get), the TCP stream still carries bytes.
  serverClock.advance(60 * REFUSED_PEER_GRACE_MS);
  await echoes(tcp, 'after');
  assert.equal(closed, false, 'the connection is not reset');
  assert.equal(serverClock.pending, 0, 'no timer left to reset it');
  // It ends when the stream does, as a GOAWAY'd session does.
  tcp.end();
  await until(() => closed, 'the session closes once its last stream ends');
});

test("the source: at the destination's certificate expiry an open TCP stream runs on, and new requests take a new session", async () => {
  const clock = new FakeClock();
  const src = await source(clock);
  const tcp = await src.session.connect('127.0.0.1:8080');
  tcp.on('error', () => {});
  await echoes(tcp, 'before');
  clock.advance(untilExpiry(serverCert.cert) + 1000);
  await until(() => src.session.connections() === 0, 'the session is retired: it takes nothing new');
  assert.equal(await src.get(), 'hello spiffe://cluster.local/ns/web/sa/web', 'a request after the expiry goes through');
  assert.equal(src.session.connections(), 1, 'on a new session');
  // Long after the expiry (and past the grace a refused peer would get), the TCP stream still carries bytes.
  clock.advance(60 * REFUSED_PEER_GRACE_MS);
  await echoes(tcp, 'after');
  let failed = false;
  tcp.on('error', () => (failed = true));
  tcp.end();
  await until(() => tcp.destroyed, 'the stream ends when its user ends it');
  assert.equal(failed, false, 'ended, not reset');
  await src.close();
});

test("the source: at the destination's certificate expiry, idle carried connections are not reused and the next request opens a new session", async () => {
  const clock = new FakeClock();
  const src = await source(clock);
  const before = src.session.connections();
  assert.equal(await src.get(), 'hello spiffe://cluster.local/ns/web/sa/web');
  assert.equal(src.session.connections(), before + 1);
  assert.equal(src.pool.connections(), 1, 'one carried connection, idle');
  clock.advance(untilExpiry(serverCert.cert) + 1000);
  await until(() => src.session.connections() === 0, 'the session is retired');
  await until(() => src.pool.connections() === 0, 'the idle carried connection closes at once, before any request');
  await until(() => clock.pending === 0, 'the session closed on its own: no grace timer left');
  assert.equal(await src.get(), 'hello spiffe://cluster.local/ns/web/sa/web', 'the next request goes through');
  assert.equal(src.session.connections(), 1, 'on a new session');
  assert.equal(src.pool.connections(), 1, 'the retired carried connection was closed, not reused');
  await src.close();
});

test("a peer's GOAWAY: the session runs on while a stream carries traffic, and ends once silent for tcp_proxy's idle timeout", async () => {
  const clientCert = await ca.issue('spiffe://cluster.local/ns/web/sa/leaving');
  const session = http2.connect(`https://127.0.0.1:${port}`, { ...clientCert, ca: ca.ca, checkServerIdentity: () => undefined });
  session.on('error', () => {});
  await new Promise((r) => session.once('remoteSettings', r));
  const tcp = session.request({ ':method': 'CONNECT', ':authority': '127.0.0.1:8080' });
  tcp.on('error', () => {});
  await echoes(tcp, 'before');
  let closed = false;
  session.on('close', () => (closed = true));
  const armed = serverClock.pending;
  // The peer is leaving: no new streams from it, the open one goes on.
  session.goaway(http2.constants.NGHTTP2_NO_ERROR);
  await until(() => serverClock.pending > armed, 'the bound armed at the GOAWAY');
  serverClock.advance(TCP_PROXY_IDLE_TIMEOUT_MS - 1000);
  await echoes(tcp, 'busy');
  // The bound runs out with writes since it was armed: it is armed again, the stream runs on.
  serverClock.advance(2000);
  await echoes(tcp, 'still');
  assert.equal(closed, false, 'a session still writing is not cut');
  // Silent from here: the next period saw the last echo, the one after it nothing.
  serverClock.advance(TCP_PROXY_IDLE_TIMEOUT_MS);
  await new Promise((r) => setImmediate(r));
  assert.equal(closed, false, 'the period with the last echo in it does not end it');
  serverClock.advance(TCP_PROXY_IDLE_TIMEOUT_MS);
  await until(() => closed, 'the silent session destroyed');
});
