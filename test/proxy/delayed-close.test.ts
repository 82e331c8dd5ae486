// The delayed close of a downstream HTTP/1.1 connection through the proxy, on the proxy's own clock
// (delayed_close_timeout, 1 s): the response goes out whole before the FIN and the rest of an upload is
// read and dropped, but a client that stops reading, or never closes its side, does not keep the
// connection (and what is buffered for it) past 1 s without progress.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { FakeClock, until } from '../resilience/fake-clock.ts';
import { hcm, listener, push, routeConfig, startProxy } from './harness.ts';

/** A direct response far larger than loopback's socket buffers take unread. */
const BIG = 24 * 1024 * 1024;
const clock = new FakeClock();
let env: Awaited<ReturnType<typeof startProxy>>;
let port: number;

before(async () => {
  env = await startProxy({ timers: clock });
  push(env.proxy, [
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r') }]),
    routeConfig('r', [
      {
        domains: ['*'],
        routes: [
          { path: '/big', direct: { status: 200, body: 'a'.repeat(BIG) } },
          { path: '/upload', direct: { status: 413, body: 'too big\n' } },
          { prefix: '/', direct: { status: 200, body: 'ok\n' } },
        ],
      },
    ]),
  ]);
  port = await env.port('0.0.0.0_8080');
});

after(() => env.close());

/** The delayed close's timer, the only one armed to fire 1 s from now. */
const closeTimerArmed = (): boolean => clock.nextDue === clock.now() + 1000;

/** A client whose bytes and ending are recorded. */
function connect(opts: { allowHalfOpen?: boolean } = {}) {
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: opts.allowHalfOpen ?? false });
  const c = { s, got: Buffer.alloc(0), ended: false, closed: false };
  s.on('error', () => {});
  s.on('data', (d: Buffer) => (c.got = Buffer.concat([c.got, d])));
  s.on('end', () => (c.ended = true));
  s.on('close', () => (c.closed = true));
  return c;
}

test('a client that stops reading a large connection: close response is cut after 1 s without write progress', { timeout: 60_000 }, async () => {
  const c = connect();
  c.s.pause();
  c.s.write('GET /big HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  await until(closeTimerArmed, 'the delayed close armed while the response is still being written');
  // Each firing that finds the kernel took more (its buffers still filling) arms it again; one that
  // finds no progress ends the connection: no timer is armed again.
  let fired = 0;
  while (closeTimerArmed()) {
    await new Promise((r) => setImmediate(r));
    clock.advance(1000);
    fired++;
    assert.ok(fired < 50, 'the timer stops once nothing moves');
  }
  c.s.resume();
  await until(() => c.closed, 'the client reads what the kernel holds, then the end');
  assert.ok(c.got.length < BIG, `the response was cut (${c.got.length} of ${BIG} bytes)`);
});

test('a client that keeps uploading after an early response gets all of it, and is closed 1 s after it was written out', async () => {
  // Half-open allowed: the client does not answer the server's FIN with its own, as one still sending does not.
  const c = connect({ allowHalfOpen: true });
  c.s.write('POST /upload HTTP/1.1\r\nhost: a\r\ncontent-length: 1000000000\r\n\r\n');
  const chunk = Buffer.alloc(16 * 1024, 1);
  const upload = () => {
    if (!c.closed) c.s.write(chunk);
  };
  await until(() => {
    upload();
    return /\r\n\r\ntoo big\n$/.test(c.got.toString('latin1')) && c.ended;
  }, 'the whole response, then the FIN');
  assert.match(c.got.toString('latin1'), /^HTTP\/1\.1 413 [\s\S]*\r\nconnection: close\r\n/i);
  // Still reading (and dropping) the upload: the connection is open until the timer fires.
  for (let i = 0; i < 5; i++) {
    upload();
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(c.closed, false);
  assert.ok(closeTimerArmed(), 'closed 1 s after the response was out');
  clock.advance(1000);
  // The FIN went with the response: the client learns of the close as its next bytes are refused.
  await until(() => {
    upload();
    return c.closed;
  }, 'the connection closes when the timer fires');
  assert.equal(clock.pending, 0);
});

test('a client that closes its side after the response closes the connection at once, leaving no timer', async () => {
  const c = connect({ allowHalfOpen: true });
  c.s.write('GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  await until(() => c.ended, 'the response, then the FIN');
  assert.match(c.got.toString('latin1'), /^HTTP\/1\.1 200 [\s\S]*\r\n\r\nok\n$/);
  assert.ok(closeTimerArmed(), 'the delayed close waits for the client');
  c.s.end();
  await until(() => c.closed, 'closed when the client closes');
  assert.equal(clock.pending, 0, 'no timer left');
});
