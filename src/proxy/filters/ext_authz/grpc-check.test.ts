// GrpcCheckClient while its dial is under way: each call's timeout (on a FakeClock) and cancel count
// from the call's start, and the dial, which calls share, is abandoned (its socket closed) only once no
// call waits for it. The dial is real TLS to a server that accepts TCP and never answers the handshake.
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { FakeClock, until } from '../../../../test/resilience/fake-clock.ts';
import type { CheckRequestJson } from './check-codec.ts';
import { type ClusterDialer, GrpcCheckClient } from './grpc-check.ts';

const TIMEOUT_MS = 60_000;
const bounded = { timeout: 10_000 };
/** A connection's check: the peers only, as the network filter sends. */
const CHECK: CheckRequestJson = { attributes: { source: {}, destination: {} } };

/** Connections the server accepted; `closed` once the client closed one. */
const accepted: { closed: boolean }[] = [];
let server: net.Server;
let port = 0;

before(async () => {
  server = net.createServer((socket) => {
    const held = { closed: false };
    // Read and dropped: the ClientHello goes unanswered, and the client's close is seen.
    socket.resume();
    socket.on('error', () => {});
    socket.on('close', () => {
      held.closed = true;
    });
    accepted.push(held);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});

after(() => {
  server.close();
});

/** Dials TLS to the server (a handshake that never ends), recording each dial's signal. */
function hungDialer(signals: AbortSignal[]): ClusterDialer {
  return (_cluster, signal) => {
    if (signal) signals.push(signal);
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'authz.example.com' });
      socket.on('error', reject);
      socket.once('secureConnect', () => resolve(socket));
      signal?.addEventListener('abort', () => {
        socket.destroy();
        reject(new Error('abandoned'));
      });
    });
  };
}

async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

test('a dial two calls wait for is kept until the second call times out too, then closed', bounded, async () => {
  accepted.length = 0;
  const clock = new FakeClock();
  const signals: AbortSignal[] = [];
  const client = new GrpcCheckClient('outbound|9000||authz', 'authz', hungDialer(signals), clock);
  const first = client.check(CHECK, TIMEOUT_MS);
  first.catch(() => {});
  await until(() => accepted.length === 1, 'the dial accepted');
  clock.advance(TIMEOUT_MS / 2);
  const second = client.check(CHECK, TIMEOUT_MS);
  second.catch(() => {});
  assert.equal(signals.length, 1, 'the second call waits for the same dial');
  clock.advance(TIMEOUT_MS / 2);
  await assert.rejects(first, { code: 'EXT_AUTHZ_TIMEOUT' });
  await turns();
  assert.equal(signals[0]!.aborted, false, 'the dial is kept for the call still waiting');
  assert.equal(accepted[0]!.closed, false);
  clock.advance(TIMEOUT_MS / 2);
  await assert.rejects(second, { code: 'EXT_AUTHZ_TIMEOUT' });
  assert.equal(signals[0]!.aborted, true, 'no call waits: the dial is abandoned');
  await until(() => accepted[0]!.closed, 'the dial closed');
});

test('a call cancelled while its dial is under way ends at once, and the dial is closed', bounded, async () => {
  accepted.length = 0;
  const clock = new FakeClock();
  const signals: AbortSignal[] = [];
  const client = new GrpcCheckClient('outbound|9000||authz', 'authz', hungDialer(signals), clock);
  const cancel = new AbortController();
  const call = client.check(CHECK, TIMEOUT_MS, cancel.signal);
  call.catch(() => {});
  await until(() => accepted.length === 1, 'the dial accepted');
  cancel.abort();
  await assert.rejects(call, { code: 'EXT_AUTHZ_CANCELLED' });
  assert.equal(clock.pending, 0, 'its timeout disarmed');
  await until(() => accepted[0]!.closed, 'the dial closed');
});

test('a dial that cannot stop (a tunnel CONNECT) is closed when it lands; a call after it was abandoned dials afresh', bounded, async () => {
  accepted.length = 0;
  const clock = new FakeClock();
  const signals: AbortSignal[] = [];
  /** Each dial's TCP connection, handed over only when the test lands it, whatever its signal says. */
  const landing: (() => void)[] = [];
  const stubborn: ClusterDialer = (_cluster, signal) => {
    if (signal) signals.push(signal);
    return new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      landing.push(() => resolve(socket));
    });
  };
  const client = new GrpcCheckClient('outbound|9000||authz', 'authz', stubborn, clock);
  const first = client.check(CHECK, TIMEOUT_MS);
  first.catch(() => {});
  await until(() => accepted.length === 1, 'the first dial accepted');
  clock.advance(TIMEOUT_MS);
  await assert.rejects(first, { code: 'EXT_AUTHZ_TIMEOUT' });
  assert.equal(signals[0]!.aborted, true);
  const second = client.check(CHECK, TIMEOUT_MS);
  second.catch(() => {});
  assert.equal(signals.length, 2, 'the next call dials afresh, not joining the abandoned dial');
  landing[0]!();
  await until(() => accepted[0]!.closed, 'the abandoned dial closed when it landed');
  clock.advance(TIMEOUT_MS);
  await assert.rejects(second, { code: 'EXT_AUTHZ_TIMEOUT' });
  landing[1]!();
  await until(() => accepted.length === 2 && accepted[1]!.closed, 'the second abandoned dial closed when it landed');
});
