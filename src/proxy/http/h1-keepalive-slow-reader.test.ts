// The HTTP/1.1 keep-alive timeout runs from the end of a response. A response tail still queued for a
// slow reader when it fires is not cut while it keeps draining: the timer re-arms, as the socket timeout
// it replaced was refreshed by every completed write; output that made no progress for the whole
// timeout is closed. A stand-in socket whose writes complete only when the test says, on a mocked clock.
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { afterEach, mock, test } from 'node:test';
import { H1ServerConnection, h1ServerDefaults } from './h1-server.ts';

/** A socket the reader drains one chunk at a time (`drainOne`). */
class SlowReader extends Duplex {
  readonly waiting: (() => void)[] = [];
  override _read(): void {}
  override _write(_chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.waiting.push(cb);
  }
  drainOne(): void {
    this.waiting.shift()?.();
  }
  setTimeout(): this {
    return this;
  }
}

const turn = () => new Promise((r) => setImmediate(r));

afterEach(() => mock.timers.reset());

test('a response tail draining to a slow reader outlives the keep-alive timeout; one that stalls is cut', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  const socket = new SlowReader();
  new H1ServerConnection(socket, h1ServerDefaults, (_req, res) => {
    res.setHeader('content-length', String(8 * 1024));
    for (let i = 0; i < 7; i++) res.write(Buffer.alloc(1024, 'a'));
    res.end(Buffer.alloc(1024, 'z'));
  });
  socket.push('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
  for (let i = 0; i < 10; i++) await turn();
  assert.ok(socket.writableLength > 6 * 1024, 'the response is queued for the reader');

  // The reader takes some of it within the timeout: still going.
  socket.drainOne();
  socket.drainOne();
  await turn();
  mock.timers.tick(h1ServerDefaults.keepAliveTimeoutMs);
  assert.equal(socket.destroyed, false, 'a draining tail is not cut at the keep-alive timeout');

  socket.drainOne();
  await turn();
  mock.timers.tick(h1ServerDefaults.keepAliveTimeoutMs);
  assert.equal(socket.destroyed, false, 'still draining: re-armed again');

  // Nothing taken for a whole timeout: closed, as the old socket timeout closed it.
  assert.ok(socket.writableLength > 0, 'some of the response still queued');
  mock.timers.tick(h1ServerDefaults.keepAliveTimeoutMs);
  assert.equal(socket.destroyed, true, 'a stalled tail is cut');
});

test('an idle kept-alive connection with nothing queued closes at the keep-alive timeout', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  const socket = new SlowReader();
  new H1ServerConnection(socket, h1ServerDefaults, (_req, res) => res.end('ok'));
  socket.push('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
  for (let i = 0; i < 10; i++) await turn();
  while (socket.waiting.length > 0) socket.drainOne();
  await turn();
  assert.equal(socket.writableLength, 0);
  mock.timers.tick(h1ServerDefaults.keepAliveTimeoutMs - 1);
  assert.equal(socket.destroyed, false);
  mock.timers.tick(1);
  assert.equal(socket.destroyed, true);
});
