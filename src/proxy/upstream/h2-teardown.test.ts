// A Node HTTP/2 stream emits 'end' when its session is torn down (the peer's connection lost), not
// only on END_STREAM. A response cut short that way must fail, never reach the client as complete.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { FakeClock, until } from '../../../test/resilience/fake-clock.ts';
import { REFUSED_PEER_GRACE_MS } from '../tunnel/mesh-tls.ts';
import { H2Upstream } from './h2-upstream.ts';
import { splice } from './connect-stream.ts';
import { endedByTeardown, type UpstreamError } from './upstream.ts';

/** An h2c server that sends a response head and half a body, then drops its connection. */
async function droppingServer(): Promise<{ port: number; close(): void }> {
  const srv = http2.createServer();
  srv.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    stream.write('part 1 of 2;', () => setImmediate(() => stream.session?.socket.destroy()));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

test('a response whose session is lost midway fails as a reset; it does not end', async () => {
  const srv = await droppingServer();
  const up = new H2Upstream(`http://127.0.0.1:${srv.port}`, { connectTimeoutMs: 2000 });
  try {
    let body = '';
    const outcome = await new Promise<string>((resolve) => {
      up.request({ method: 'GET', path: '/', authority: 'a', scheme: 'http', headers: {} }, null, {
        onHead: () => {},
        onData: (c) => {
          body += c.toString();
          return true;
        },
        onEnd: () => resolve('ended'),
        onError: (err: UpstreamError) => resolve(`failed: ${err.failure}`),
      });
    });
    assert.equal(outcome, 'failed: reset');
    assert.equal(body, 'part 1 of 2;');
  } finally {
    await up.close();
    srv.close();
  }
});

test('a spliced HTTP/2 stream torn down with its session tears the other side down; a real end half-closes it', async () => {
  for (const drop of [true, false]) {
    const srv = http2.createServer();
    srv.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      if (drop) stream.write('bytes', () => setImmediate(() => stream.session?.socket.destroy()));
      else stream.end('bytes');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const session = http2.connect(`http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`);
    const stream = session.request({ ':path': '/' });
    stream.end();
    // The other side: a duplex that records whether it was ended or destroyed.
    const other = new PassThrough();
    other.resume();
    let ended = false;
    other.on('finish', () => (ended = true));
    await new Promise<void>((resolve) => {
      splice(stream, other);
      stream.on('close', () => setImmediate(resolve));
    });
    if (drop) {
      assert.equal(other.destroyed, true, 'a lost session is a reset');
      assert.equal(ended, false, 'not a half-close');
    } else assert.equal(ended, true, 'END_STREAM half-closes the other side');
    session.destroy();
    srv.close();
  }
});

test('endedByTeardown tells a stream destroyed with its session from sockets and live streams', () => {
  assert.equal(endedByTeardown({ destroyed: true }), false, 'a socket never ends by teardown');
  const stream = (destroyed: boolean, rstCode: number | undefined) => ({ destroyed, rstCode });
  assert.equal(endedByTeardown(stream(false, undefined)), false);
  assert.equal(endedByTeardown(stream(true, 8)), true);
});

test('a side that ended before the splice (a FIN while the upstream was connecting) still half-closes the other', async () => {
  let upstreamSawFin = false;
  const up = net.createServer((s) => {
    s.on('end', () => {
      upstreamSawFin = true;
      s.end();
    });
    s.resume();
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const front = net.createServer({ allowHalfOpen: true }, (down) => {
    down.pause();
    // The client's FIN arrives, and is read, before the upstream connection is up.
    down.once('end', () => {
      const upstream = net.connect((up.address() as net.AddressInfo).port, '127.0.0.1', () => splice(down, upstream));
    });
    down.read(0);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  net.connect((front.address() as net.AddressInfo).port, '127.0.0.1').end();
  try {
    await until(() => upstreamSawFin, 'the upstream sees the FIN');
  } finally {
    front.close();
    up.close();
  }
});

test('retiring reaches a session already draining (at its stream limit): its open stream is reset after the grace', async () => {
  const srv = http2.createServer();
  // The retired session's GOAWAY carries CANCEL: an error on the peer's session and streams.
  srv.on('session', (session) => session.on('error', () => {}));
  srv.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.respond({ ':status': 200 });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const clock = new FakeClock();
  const up = new H2Upstream(`http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`, { connectTimeoutMs: 2000, maxStreamsPerSession: 1, timers: clock });
  let outcome: string | undefined;
  let gotHead = false;
  up.request({ method: 'GET', path: '/', authority: 'a', scheme: 'http', headers: {} }, null, {
    onHead: () => (gotHead = true),
    onData: () => true,
    onEnd: () => (outcome = 'ended'),
    onError: (err: UpstreamError) => (outcome = err.failure),
  });
  await until(() => gotHead, 'the response head arrives; the session, at its limit, drains');
  up.retireIf(() => true);
  clock.advance(REFUSED_PEER_GRACE_MS);
  await until(() => outcome !== undefined, 'the stream is reset');
  assert.equal(outcome, 'reset');
  await up.close();
  srv.close();
});

test('RST_STREAM NO_ERROR before END_STREAM fails as the peer\'s reset (UR), after it the response ends whole; the stream slot is freed', async () => {
  const srv = http2.createServer();
  srv.on('stream', (stream, h) => {
    stream.on('error', () => {});
    if (h[':path'] === '/cut') {
      stream.respond({ ':status': 200 });
      // destroy(), not close(NO_ERROR): close() sends END_STREAM before the reset on a stream still being written.
      stream.write('part;', () => setImmediate(() => stream.destroy()));
    } else if (h[':path'] === '/cut-head') stream.destroy();
    // The whole response, then the reset that stops the upload still coming (RFC 9113 §8.1).
    else
      stream.once('data', () => {
        stream.respond({ ':status': 200 });
        stream.end('whole', () => stream.close(http2.constants.NGHTTP2_NO_ERROR));
      });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const up = new H2Upstream(`http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`, { connectTimeoutMs: 2000 });
  // `full`: the sink takes no more (a downstream that does not read): the stream is paused when it is cut.
  const run = (path: string, body: PassThrough | null, full = false): Promise<{ outcome: string; body: string }> =>
    new Promise((resolve) => {
      let got = '';
      up.request({ method: body ? 'POST' : 'GET', path, authority: 'a', scheme: 'http', headers: {} }, body, {
        onHead: () => {},
        onData: (c) => {
          got += c.toString();
          return !full;
        },
        onEnd: () => resolve({ outcome: 'ended', body: got }),
        onError: (err: UpstreamError) => resolve({ outcome: `${err.failure}${err.remoteResetCode >= 0 ? ' (remote)' : ''}`, body: got }),
      });
    });
  try {
    assert.deepEqual(await run('/cut', null), { outcome: 'reset (remote)', body: 'part;' });
    assert.deepEqual(await run('/cut', null, true), { outcome: 'reset (remote)', body: 'part;' });
    assert.deepEqual(await run('/cut-head', null), { outcome: 'reset (remote)', body: '' });
    const upload = new PassThrough();
    upload.write('first chunk; the rest never comes');
    assert.deepEqual(await run('/whole', upload), { outcome: 'ended', body: 'whole' });
    await until(() => up.streams() === 0, 'no stream left open on the session');
  } finally {
    await up.close();
    srv.close();
  }
});
