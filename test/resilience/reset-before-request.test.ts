// reset-before-request, the retry_on of every inbound HTTP route: as Envoy's
// RetryStateImpl::wouldRetryFromReset, a try whose request never started (a connect failure, a reset
// before the head was written) is retried; one whose head went out is not. Such a policy keeps no copy
// of the body: a try that sent nothing left the body unread, and the next try takes it as it is.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, test } from 'node:test';
import { RetryPolicy, RetryState } from '../../src/proxy/http/retry/retry-policy.ts';
import { ReplayableBody } from '../../src/proxy/upstream/replayable-body.ts';
import { closedPort, request } from '../proxy/harness.ts';
import { FakeClock } from './fake-clock.ts';
import { assignment, edsCluster, routes, startFront } from './router-front.ts';

const inbound = { timeout: { seconds: '0' }, retry_policy: { retry_on: 'reset-before-request', num_retries: { value: 2 } } };

/** Back-offs are 0 ms with the draw 0: let the fake clock fire them while the request runs. */
async function settle(clock: FakeClock, pending: Promise<unknown>): Promise<void> {
  let done = false;
  void pending.finally(() => {
    done = true;
  });
  for (let i = 0; i < 200 && !done; i++) {
    clock.advance(0);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// Counts what the proxy allocates for retries: a RetryState per decision, a replay copy per body.
let replays = 0;
const stream = ReplayableBody.prototype.stream;
ReplayableBody.prototype.stream = function (this: ReplayableBody) {
  replays++;
  return stream.call(this);
};
after(() => {
  ReplayableBody.prototype.stream = stream;
});

test('a refused connect (nothing sent) is retried twice, then 503 UF with URX', async () => {
  const port = await closedPort();
  const clock = new FakeClock();
  const f = await startFront({ clusters: [edsCluster('inbound')], assignments: [assignment('inbound', [port])], routes: routes('inbound', inbound), timers: clock, random: () => 0 });
  try {
    const pending = request(f.port, '/');
    await settle(clock, pending);
    const res = await pending;
    const c = f.clusters.get('inbound')!;
    assert.equal(res.status, 503);
    assert.equal(c.stats.upstream_cx_connect_fail.value, 3);
    assert.equal(c.stats.upstream_rq_retry.value, 2);
    assert.ok(f.infos.at(-1)?.responseFlags.has('URX'));
  } finally {
    await f.close();
  }
});

test('a reset after the request head was written is not retried', async () => {
  let heads = 0;
  const app = net.createServer((s) => {
    s.once('data', () => {
      heads++;
      s.destroy();
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const clock = new FakeClock();
  const f = await startFront({ clusters: [edsCluster('inbound')], assignments: [assignment('inbound', [(app.address() as net.AddressInfo).port])], routes: routes('inbound', inbound), timers: clock, random: () => 0 });
  try {
    const pending = request(f.port, '/');
    await settle(clock, pending);
    const res = await pending;
    assert.equal(res.status, 503);
    assert.equal(heads, 1);
    assert.equal(f.clusters.get('inbound')!.stats.upstream_rq_retry.value, 0);
  } finally {
    await f.close();
    app.close();
  }
});

test('a POST whose first try was refused reaches the app whole on the retry, with no replay copy; a request never retried makes no retry state', async () => {
  const refused = await closedPort();
  const app = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.end(Buffer.concat(chunks)));
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const clock = new FakeClock();
  const f = await startFront({
    clusters: [edsCluster('inbound')],
    assignments: [assignment('inbound', [refused, (app.address() as net.AddressInfo).port])],
    routes: routes('inbound', inbound),
    timers: clock,
    random: () => 0,
  });
  const start = RetryPolicy.prototype.start;
  let states = 0;
  const decide = RetryState.prototype.shouldRetry;
  RetryState.prototype.shouldRetry = function (this: RetryState, o) {
    states++;
    return decide.call(this, o);
  };
  RetryPolicy.prototype.start = function (this: RetryPolicy, r) {
    throw new Error(`RetryPolicy.start per request ${String(r)}`);
  };
  try {
    replays = 0;
    const c = f.clusters.get('inbound')!;
    for (let i = 0; i < 4; i++) {
      const pending = request(f.port, '/up', { method: 'POST', body: `hello ${i}` });
      await settle(clock, pending);
      const res = await pending;
      assert.equal(res.status, 200);
      assert.equal(res.body, `hello ${i}`);
    }
    assert.ok(c.stats.upstream_rq_retry.value >= 2, 'round robin sent tries to the refused port');
    assert.equal(states, c.stats.upstream_cx_connect_fail.value, 'a decision only for a failed try');
    assert.equal(replays, 0, 'no ReplayableBody');
  } finally {
    RetryPolicy.prototype.start = start;
    RetryState.prototype.shouldRetry = decide;
    await f.close();
    app.close();
  }
});

/**
 * An app that reads each request whole, records it, then has the proxy's connection to it fail with
 * ETIMEDOUT, as a TCP user timeout or keepalive would after the request went out. The proxy's socket is
 * found by wrapping net.connect for the test (restored after): no other way reaches a client socket's
 * error from outside.
 */
async function appThatTimesOutAfterReading(): Promise<{ port: number; bodies: string[]; close(): void }> {
  const sockets: net.Socket[] = [];
  const connect = net.connect;
  (net as { connect: unknown }).connect = (...args: unknown[]) => {
    const s = (connect as (...a: unknown[]) => net.Socket).apply(net, args);
    sockets.push(s);
    return s;
  };
  const bodies: string[] = [];
  const app = http.createServer((req) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString());
      sockets.at(-1)?.destroy(Object.assign(new Error('read ETIMEDOUT'), { code: 'ETIMEDOUT' }));
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  return {
    port: (app.address() as net.AddressInfo).port,
    bodies,
    close: () => {
      (net as { connect: unknown }).connect = connect;
      app.close();
    },
  };
}

for (const [what, policy, method, body] of [
  ['a request without a body', inbound, 'DELETE', undefined],
  ['a POST under a policy that keeps a replay copy', { timeout: { seconds: '0' }, retry_policy: { retry_on: 'reset-before-request,retriable-status-codes', retriable_status_codes: [409], num_retries: { value: 2 } } }, 'POST', 'charge=100'],
] as const) {
  test(`${what} the app received is never sent again when the connection then fails, whatever the error's code (ETIMEDOUT after connect is a reset, not a connect failure)`, async () => {
    const app = await appThatTimesOutAfterReading();
    const clock = new FakeClock();
    const f = await startFront({ clusters: [edsCluster('inbound')], assignments: [assignment('inbound', [app.port])], routes: routes('inbound', policy), timers: clock, random: () => 0 });
    try {
      const pending = request(f.port, '/pay', { method, ...(body ? { body } : {}) });
      await settle(clock, pending);
      const res = await pending;
      const c = f.clusters.get('inbound');
      assert.equal(app.bodies.length, 1, 'the request reached the app once');
      assert.equal(res.status, 503);
      assert.equal(c?.stats.upstream_rq_retry.value, 0);
      assert.equal(c?.stats.upstream_cx_connect_fail.value, 0, 'a failure after connect is no connect failure');
    } finally {
      await f.close();
      app.close();
    }
  });
}
