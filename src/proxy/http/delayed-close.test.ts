// The HTTP/1.1 codec's delayed close on real sockets, its timer on a test clock: a client reading a
// large `connection: close` response slowly keeps its connection while the response makes progress,
// over TCP and over TLS (where the progress shows only on the TCP socket beneath); on an HTTP/2 stream
// carrying the connection, a client that stops reading is cut.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { after, test } from 'node:test';
import tls from 'node:tls';
import { makeCa } from '../../../test/proxy/certs.ts';
import { FakeClock, until } from '../../../test/resilience/fake-clock.ts';
import { DELAYED_CLOSE_MS } from './delayed-close.ts';
import { H1ServerConnection, h1ServerDefaults } from './h1-server.ts';

/** One write larger than the kernel's buffers on loopback take unread: it goes out in parts. */
const BODY = Buffer.alloc(24 * 1024 * 1024, 0x61);
/** BODY as an upstream's body comes, in slices. */
const PARTS = Array.from({ length: 64 }, (_, i) => BODY.subarray(i * 128 * 1024, (i + 1) * 128 * 1024));
/** What the client reads at a time. */
const SLICE = 256 * 1024;
const servers: (net.Server | http2.Http2Server)[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** What a socket has yet to hand on: its stream buffer, and a TCP socket's libuv queue (what the kernel has yet to take). */
function unsent(s: Duplex): number {
  const q = (s as unknown as { _handle?: { writeQueueSize?: unknown } | null })._handle?.writeQueueSize;
  return s.writableLength + (typeof q === 'number' ? q : 0);
}

/**
 * Sends one `connection: close` request to `server` (which emits 'conn' with its connection's TCP
 * socket), the client reading a slice at a time, and the clock advanced by DELAYED_CLOSE_MS each time
 * the slices read have made that socket progress. Returns the bytes the client got and how many times
 * the timer fired.
 */
async function slowRead(server: net.Server, connect: (port: number) => Duplex, clock: FakeClock): Promise<{ got: number; fired: number }> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = connect((server.address() as net.AddressInfo).port);
  client.on('error', () => {});
  let got = 0;
  let want = 0;
  let ended = false;
  client.on('data', (c: Buffer) => {
    got += c.length;
    if (got >= want) client.pause();
  });
  client.on('end', () => {
    ended = true;
    client.end();
  });
  client.pause();
  client.write('GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  const tcp = await new Promise<Duplex>((r) => server.once('conn', r));
  await until(() => clock.nextDue !== undefined, 'the delayed close is armed with the response still being written');
  let fired = 0;
  for (;;) {
    const before = unsent(tcp);
    // Slices read until the server's socket has moved on (the kernel wakes a writer only once a good
    // part of its send buffer is free), then the timer fires.
    await until(() => {
      if (unsent(tcp) < before || tcp.destroyed) return true;
      if (client.isPaused()) {
        want = got + SLICE;
        client.resume();
      }
      return false;
    }, 'the response makes progress');
    assert.equal(tcp.destroyed, false, 'not cut while its response makes progress');
    // All of it handed to the kernel: the timer was armed afresh, and the client reads on to the end.
    if (unsent(tcp) === 0) break;
    clock.advance(DELAYED_CLOSE_MS);
    fired++;
    assert.equal(clock.nextDue, clock.now() + DELAYED_CLOSE_MS, 'armed again');
  }
  want = Number.POSITIVE_INFINITY;
  client.resume();
  await until(() => ended, 'the whole response, then the server closes its side');
  await until(() => tcp.destroyed, 'the connection closes when the client closes too');
  assert.equal(clock.pending, 0, 'no timer left');
  return { got, fired };
}

test('a slow reader of a large connection: close response gets all of it: each timer firing finds write progress and re-arms', { timeout: 60_000 }, async () => {
  const clock = new FakeClock();
  const server = net.createServer((socket) => {
    server.emit('conn', socket);
    new H1ServerConnection(socket, { ...h1ServerDefaults, timers: clock }, (_req, res) => {
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.end(BODY);
    });
  });
  servers.push(server);
  const { got, fired } = await slowRead(server, (port) => net.connect(port, '127.0.0.1'), clock);
  assert.ok(got > BODY.length, 'head and body');
  assert.ok(fired >= 2, `the timer fired while the response was still going out (${fired} times)`);
});

test('over TLS the same: the progress shows on the TCP socket beneath, one large TLS write going out in parts', { timeout: 60_000 }, async () => {
  const clock = new FakeClock();
  const ca = await makeCa();
  const server = tls.createServer({ ...(await ca.issueWithSans([{ type: 'dns', value: 'a' }])) }, (socket) => {
    server.emit('conn', (socket as unknown as { _parent: net.Socket })._parent);
    new H1ServerConnection(socket, { ...h1ServerDefaults, timers: clock }, (_req, res) => {
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.end(BODY);
    });
  });
  servers.push(server);
  const { got, fired } = await slowRead(server, (port) => tls.connect({ port, host: '127.0.0.1', ca: ca.ca, servername: 'a' }), clock);
  assert.ok(got > BODY.length, 'head and body');
  assert.ok(fired >= 2, `the timer fired while the response was still going out (${fired} times)`);
});

test('on an HTTP/2 stream carrying the connection (the mesh tunnel), a reader that stops is cut after 1 s without progress', { timeout: 60_000 }, async () => {
  const clock = new FakeClock();
  let stream: http2.ServerHttp2Stream | undefined;
  const server = http2.createServer();
  server.on('stream', (s) => {
    stream = s;
    s.respond({ ':status': 200 });
    new H1ServerConnection(s, { ...h1ServerDefaults, timers: clock }, (_req, res) => {
      res.writeHead(200, { 'content-length': String(BODY.length) });
      for (const p of PARTS) res.write(p);
      res.end();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const session = http2.connect(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  const client = session.request({ ':method': 'POST', ':path': '/' });
  client.on('error', () => {});
  client.pause();
  client.write('GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  await until(() => clock.nextDue !== undefined, 'the delayed close is armed with the response still being written');
  assert.ok((stream?.writableLength ?? 0) > 0, 'the response is still being written');
  let fired = 0;
  while (clock.nextDue !== undefined) {
    await new Promise((r) => setImmediate(r));
    clock.advance(DELAYED_CLOSE_MS);
    assert.ok(++fired < 50, 'the timer stops once nothing moves');
  }
  await until(() => stream?.destroyed === true, 'the stream is cut');
  session.destroy();
});
