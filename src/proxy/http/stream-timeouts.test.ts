// Stream idle timeout and max stream duration on real sockets: a Node HTTP server whose streams carry
// StreamTimeouts on a FakeClock; the client stalls, trickles or waits, and the clock decides.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { test } from 'node:test';
import { FakeClock, until } from '../../../test/resilience/fake-clock.ts';
import { sendLocalReply } from '../local-reply.ts';
import type { StreamInfo } from './stream.ts';
import { compileStreamTimeouts, DEFAULT_STREAM_IDLE_TIMEOUT_MS, type StreamTimeoutConfig, StreamTimeouts } from './stream-timeouts.ts';

test('compileStreamTimeouts: Envoy defaults, explicit 0 disables idle, HCM max_stream_duration', () => {
  assert.deepEqual(compileStreamTimeouts({}), { idleMs: DEFAULT_STREAM_IDLE_TIMEOUT_MS, maxDurationMs: 0 });
  assert.deepEqual(compileStreamTimeouts({ stream_idle_timeout: { seconds: '0' } }), { idleMs: 0, maxDurationMs: 0 });
  assert.deepEqual(compileStreamTimeouts({ stream_idle_timeout: { seconds: '2' }, common_http_protocol_options: { max_stream_duration: { seconds: '10' } } }), { idleMs: 2000, maxDurationMs: 10_000 });
});

/** A server whose every stream gets timers (and never answers on its own). */
async function server(config: StreamTimeoutConfig, clock: FakeClock, routeMax?: number) {
  const infos: StreamInfo[] = [];
  const sockets: net.Socket[] = [];
  const srv = http.createServer((req, res) => {
    sockets.push(req.socket);
    const info: StreamInfo = { startTime: 0, responseFlags: new Set(), dynamicMetadata: new Map() };
    infos.push(info);
    req.resume(); // the body is read (as the router would), so the socket counters move
    const t = new StreamTimeouts(
      {
        progress: () => req.socket.bytesRead + req.socket.bytesWritten,
        requestComplete: () => req.complete,
        expire: (reply) => (res.headersSent ? res.destroy() : sendLocalReply(res, reply, info, false)),
      },
      config,
      clock,
      routeMax,
    );
    res.on('close', () => t.clear());
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as AddressInfo).port, infos, sockets, close: () => new Promise<void>((r) => srv.close(() => r())), srv };
}

/** A raw client: sends `head`, collects the answer until close. */
function client(port: number, head: string) {
  const s = net.connect(port, '127.0.0.1');
  let out = '';
  let closed = false;
  s.on('data', (c) => {
    out += c.toString('latin1');
  });
  s.on('error', () => {});
  s.on('close', () => {
    closed = true;
  });
  s.write(head);
  return { socket: s, text: () => out, closed: () => closed };
}

test('stream idle timeout: 504 SI when the request is complete and nothing answers; 408 while the body is missing', async () => {
  const clock = new FakeClock();
  const srv = await server({ idleMs: 300_000, maxDurationMs: 0 }, clock);
  try {
    const waiting = client(srv.port, 'GET / HTTP/1.1\r\nhost: a\r\n\r\n');
    await until(() => clock.pending === 1, 'the idle timer armed');
    clock.advance(299_999);
    assert.equal(waiting.text(), '', 'not before the timeout');
    clock.advance(1);
    await until(() => waiting.text().includes('\r\n\r\n'), 'a reply');
    assert.match(waiting.text(), /^HTTP\/1\.1 504 /);
    assert.match(waiting.text(), /x-envoy-response-flags: SI/);
    assert.ok(srv.infos[0]?.responseFlags.has('SI'));
    waiting.socket.destroy();

    const sending = client(srv.port, 'POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\nabc');
    await until(() => clock.pending === 1, 'the idle timer armed');
    clock.advance(300_000);
    // The three bytes arrived after the timer was armed? Either way, one more quiet period expires it.
    if (!sending.text()) clock.advance(300_000);
    await until(() => sending.text().includes('\r\n\r\n'), 'a reply');
    assert.match(sending.text(), /^HTTP\/1\.1 408 /, 'the client never finished its body');
    sending.socket.destroy();
  } finally {
    srv.srv.closeAllConnections();
    await srv.close();
  }
});

test('a stream that keeps moving is not idle; it expires one quiet period after it stops', async () => {
  const clock = new FakeClock();
  const srv = await server({ idleMs: 1000, maxDurationMs: 0 }, clock);
  try {
    const c = client(srv.port, 'POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n');
    await until(() => clock.pending === 1, 'the idle timer armed');
    for (let i = 0; i < 5; i++) {
      const sock = srv.sockets[0];
      const before = sock?.bytesRead ?? 0;
      c.socket.write('1\r\nx\r\n');
      // The chunk reaches the server (its socket counter moves) within the period, then the period ends.
      await until(() => (sock?.bytesRead ?? 0) > before, `chunk ${i + 1} read`);
      clock.advance(1000);
      assert.equal(c.text(), '', `active after ${i + 1} periods`);
    }
    clock.advance(1000);
    if (!c.text()) clock.advance(1000);
    await until(() => c.text().includes('\r\n\r\n'), 'a reply');
    assert.match(c.text(), /^HTTP\/1\.1 408 /);
    c.socket.destroy();
  } finally {
    srv.srv.closeAllConnections();
    await srv.close();
  }
});

test('max stream duration: the route value replaces the HCM one, and ends even an active stream with UMSDR', async () => {
  const clock = new FakeClock();
  const srv = await server({ idleMs: 0, maxDurationMs: 10_000 }, clock, 3000);
  try {
    const c = client(srv.port, 'GET / HTTP/1.1\r\nhost: a\r\n\r\n');
    await until(() => clock.pending === 1, 'the duration timer armed (idle disabled)');
    clock.advance(2999);
    assert.equal(c.text(), '');
    clock.advance(1);
    await until(() => c.text().includes('\r\n\r\n'), 'a reply');
    assert.match(c.text(), /^HTTP\/1\.1 504 /);
    assert.match(c.text(), /x-envoy-response-flags: UMSDR/);
    await until(() => clock.pending === 0, 'no timer left behind');
    c.socket.destroy();
  } finally {
    srv.srv.closeAllConnections();
    await srv.close();
  }
});
