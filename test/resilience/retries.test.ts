// Retries through the real router, real upstream sockets and a real cluster: attempts counted at the
// fault upstream, back-off and per-try timeouts driven by a manual clock.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { request } from '../proxy/harness.ts';
import { FakeClock, until } from './fake-clock.ts';
import { type Fault, FaultUpstream, firstN } from './fault-upstream.ts';
import { assignment, edsCluster, routes, startFront } from './router-front.ts';

const seedPolicy = { retry_on: '5xx,connect-failure,reset', num_retries: { value: 3 }, per_try_timeout: { seconds: '2' } };
const fault = (f: Fault) => ({ 'x-fault': JSON.stringify(f) });

const up = new FaultUpstream();
await up.listen();
after(() => up.close());

function table(): Record<string, unknown> {
  const r = (prefix: string, retry: Record<string, unknown>) => ({ match: { prefix }, route: { cluster: 'c', retry_policy: { num_retries: { value: 2 }, ...retry } } });
  return {
    name: 'r',
    virtual_hosts: [
      {
        name: 'vh',
        domains: ['*'],
        routes: [
          { match: { prefix: '/seed' }, route: { cluster: 'c', retry_policy: seedPolicy } },
          r('/5xx', { retry_on: '5xx' }),
          r('/gw', { retry_on: 'gateway-error' }),
          r('/reset', { retry_on: 'reset' }),
          r('/cf', { retry_on: 'connect-failure' }),
          r('/4xx', { retry_on: 'retriable-4xx' }),
          r('/codes', { retry_on: 'retriable-status-codes', retriable_status_codes: [429] }),
          r('/grpc', { retry_on: 'unavailable,cancelled' }),
          r('/small', { retry_on: '5xx' }),
          { match: { prefix: '/tiny' }, per_request_buffer_limit_bytes: { value: 8 }, route: { cluster: 'c', retry_policy: { retry_on: '5xx', num_retries: { value: 2 } } } },
          { match: { prefix: '/' }, route: { cluster: 'c' } },
        ],
      },
    ],
  };
}

const front = await startFront({ clusters: [edsCluster('c')], assignments: [assignment('c', [up.port])], routes: table(), random: () => 0 });
after(() => front.close());
const cluster = front.clusters.get('c')!;

/** Sends one request with a fault every attempt gets; returns the status and how many attempts reached the upstream. */
async function attempts(path: string, f: Fault): Promise<{ status: number; attempts: number; flags: string }> {
  const before = up.seen.length;
  const res = await request(front.port, path, { headers: fault(f) });
  return { status: res.status, attempts: up.seen.length - before, flags: String(res.headers['x-envoy-response-flags'] ?? '') };
}

test('the seed policy tries a request exactly 4 times against a 5xx storm, then passes the last 503 on with URX', async () => {
  const retriesBefore = cluster.stats.upstream_rq_retry.value;
  const r = await attempts('/seed', { kind: 'status', status: 503 });
  assert.deepEqual({ status: r.status, attempts: r.attempts }, { status: 503, attempts: 4 });
  assert.equal(cluster.stats.upstream_rq_retry.value - retriesBefore, 3);
  assert.ok(front.infos.at(-1)?.responseFlags.has('URX'));
});

test('the seed policy: resets are retried and exhaust into 503 UC,URX (the reset\'s flag kept, as Envoy)', async () => {
  const r = await attempts('/seed', { kind: 'reset' });
  // The reply is the reset's (UC); the stream's flags, which the access log writes, add URX.
  assert.deepEqual(r, { status: 503, attempts: 4, flags: 'UC' });
  assert.deepEqual([...(front.infos.at(-1)?.responseFlags ?? [])].sort(), ['UC', 'URX']);
});

test('retry_on conditions: each retried exactly num_retries + 1 times, or not at all', async () => {
  const rows: [string, Fault, number][] = [
    ['/5xx', { kind: 'status', status: 500 }, 3],
    ['/5xx', { kind: 'status', status: 404 }, 1],
    ['/gw', { kind: 'status', status: 502 }, 3],
    ['/gw', { kind: 'status', status: 500 }, 1],
    ['/reset', { kind: 'reset' }, 3],
    ['/cf', { kind: 'reset' }, 1],
    ['/4xx', { kind: 'status', status: 409 }, 3],
    ['/4xx', { kind: 'status', status: 429 }, 1],
    ['/codes', { kind: 'status', status: 429 }, 3],
    ['/grpc', { kind: 'ok', headers: { 'grpc-status': '14' } }, 3],
    ['/grpc', { kind: 'ok', headers: { 'grpc-status': '1' } }, 3],
    ['/grpc', { kind: 'ok', headers: { 'grpc-status': '13' } }, 1],
    ['/', { kind: 'status', status: 503 }, 1],
  ];
  for (const [path, f, n] of rows) assert.equal((await attempts(path, f)).attempts, n, `${path} ${JSON.stringify(f)}`);
});

test('a storm that ends: 503 then 200 is 2 attempts and counts a retry success', async () => {
  up.setPlan(firstN(up.seen.length + 1, { kind: 'status', status: 503 }));
  const before = cluster.resilience.upstream_rq_retry_success;
  const res = await request(front.port, '/seed');
  up.setPlan(() => ({ kind: 'ok' }));
  assert.equal(res.status, 200);
  assert.equal(cluster.resilience.upstream_rq_retry_success - before, 1);
});

test('request bodies are replayed on retry within the buffer bound; past it there is no retry', async () => {
  const before = up.seen.length;
  const small = await request(front.port, '/small', { method: 'POST', body: 'abc', headers: fault({ kind: 'status', status: 503 }) });
  assert.equal(small.status, 503);
  assert.deepEqual(up.seen.slice(before).map((s) => s.body), ['abc', 'abc', 'abc']);
  const mid = up.seen.length;
  const big = await request(front.port, '/tiny', { method: 'POST', body: 'x'.repeat(20), headers: fault({ kind: 'status', status: 503 }) });
  assert.equal(big.status, 503);
  assert.equal(up.seen.length - mid, 1);
});

test('max_retries 0 in the circuit breakers: no retry, counted as retry overflow, the 503 that stands flagged UO', async () => {
  const u = new FaultUpstream(() => ({ kind: 'status', status: 503 }));
  await u.listen();
  const f = await startFront({
    clusters: [edsCluster('c', { circuit_breakers: { thresholds: [{ max_retries: { value: 0 } }] } })],
    assignments: [assignment('c', [u.port])],
    routes: routes('c', { retry_policy: seedPolicy }),
    random: () => 0,
  });
  try {
    assert.equal((await request(f.port, '/')).status, 503);
    assert.equal(u.seen.length, 1);
    assert.equal(f.clusters.get('c')!.resilience.upstream_rq_retry_overflow, 1);
    // Envoy's RetryStatus::NoOverflow sets UpstreamOverflow on the response that stands.
    assert.deepEqual([...(f.infos.at(-1)?.responseFlags ?? [])], ['UO']);
  } finally {
    await f.close();
    await u.close();
  }
});

test('max_retries 1: a granted retry holds the resource through its retried try, so a second request is not retried (UO)', async () => {
  // Envoy's RetryStateImpl keeps the `retries` resource from the retry decision until the next decision
  // on that request or its end (the back-off timer firing does not release it).
  const clock = new FakeClock();
  const triesOf = (path: string) => u.seen.filter((s) => s.path === path).length;
  // First try of each path: 503. /a's retry then hangs; /b's would succeed.
  const u = new FaultUpstream((_n, req) => (triesOf(req.url ?? '') === 0 ? { kind: 'status', status: 503 } : req.url === '/a' ? { kind: 'hang' } : { kind: 'ok' }));
  await u.listen();
  const f = await startFront({
    clusters: [edsCluster('c', { circuit_breakers: { thresholds: [{ max_retries: { value: 1 } }] } })],
    assignments: [assignment('c', [u.port])],
    routes: routes('c', { timeout: { seconds: '0' }, retry_policy: { retry_on: '5xx', num_retries: { value: 2 } } }),
    timers: clock,
    random: () => 0,
  });
  const c = f.clusters.get('c')!;
  try {
    const a = request(f.port, '/a').catch(() => null);
    // The back-off (0 ms with this draw) fires only when the clock moves.
    await until(() => {
      clock.advance(0);
      return triesOf('/a') === 2;
    }, "/a's retry on the wire");
    assert.equal(c.resources().retries.current, 1, 'held while the retried try runs');
    const b = await request(f.port, '/b');
    assert.deepEqual([b.status, triesOf('/b')], [503, 1]);
    assert.equal(c.resilience.upstream_rq_retry_overflow, 1);
    assert.deepEqual([...(f.infos.at(-1)?.responseFlags ?? [])], ['UO']);
    // /a's retried try is reset: retried again (its last retry), then fails to connect and ends.
    await u.close();
    await until(() => {
      clock.advance(0);
      return c.resources().retries.current === 0 && c.stats.upstream_rq_active.value === 0;
    }, "/a's end gives the retry back");
    await a;
  } finally {
    await f.close();
    await u.close();
  }
});

test('back-off: jittered exponential (25 ms base) on the injected clock', async () => {
  const clock = new FakeClock();
  const u = new FaultUpstream(firstN(2, { kind: 'status', status: 503 }));
  await u.listen();
  const f = await startFront({ clusters: [edsCluster('c')], assignments: [assignment('c', [u.port])], routes: routes('c', { retry_policy: seedPolicy }), timers: clock, random: () => 0.5 });
  try {
    const res = request(f.port, '/');
    // Armed: the route timeout and the per-try timeout; once the 503 is in, the per-try timeout gives way
    // to the back-off. The timer count alone cannot tell the two states apart; the back-off's due time can.
    await until(() => u.seen.length === 1 && clock.nextDue === 12, 'first attempt answered, back-off armed');
    clock.advance(11);
    assert.equal(clock.pending, 2, 'first back-off is 0.5 × 25 ms = 12 ms');
    clock.advance(1);
    await until(() => u.seen.length === 2 && clock.nextDue === 37, 'second attempt answered, back-off armed');
    clock.advance(24);
    assert.equal(clock.pending, 2, 'second back-off is 0.5 × 50 ms = 25 ms');
    clock.advance(1);
    assert.equal((await res).status, 200);
    assert.equal(u.seen.length, 3);
  } finally {
    await f.close();
    await u.close();
  }
});

test('per-try timeout: a hung try is abandoned after 2 s on the clock and retried (UT only when none is left)', async () => {
  const clock = new FakeClock();
  const u = new FaultUpstream(firstN(1, { kind: 'hang' }));
  await u.listen();
  const f = await startFront({ clusters: [edsCluster('c')], assignments: [assignment('c', [u.port])], routes: routes('c', { retry_policy: seedPolicy }), timers: clock, random: () => 0 });
  try {
    const res = request(f.port, '/');
    await until(() => u.seen.length === 1, 'first try reached the upstream');
    clock.advance(1999);
    assert.equal(f.clusters.get('c')!.resilience.upstream_rq_per_try_timeout, 0);
    clock.advance(1);
    assert.equal((await res).status, 200);
    assert.equal(u.seen.length, 2);
    assert.equal(f.clusters.get('c')!.resilience.upstream_rq_per_try_timeout, 1);
    u.setPlan(() => ({ kind: 'hang' }));
    const timedOut = request(f.port, '/');
    for (let i = 0; i < 4; i++) {
      await until(() => u.seen.length === 3 + i, `try ${i + 1}`);
      clock.advance(2000);
    }
    const r = await timedOut;
    assert.equal(r.status, 504);
    assert.equal(r.headers['x-envoy-response-flags'], 'UT');
    // The try that ran out of retries also marks URX, as Envoy's maybeRetryReset does (UT,URX in the log).
    assert.deepEqual([...(f.infos.at(-1)?.responseFlags ?? [])].sort(), ['URX', 'UT']);
    // Every abandoned try is a per-try timeout, on /stats too; none is the route's timeout.
    const stats = f.clusters.get('c')!.stats;
    assert.equal(stats.upstream_rq_per_try_timeout.value, 5);
    assert.equal(stats.upstream_rq_timeout.value, 0);
  } finally {
    await f.close();
    await u.close();
  }
});

test('route timeout: 504 UT on the clock while the upstream hangs', async () => {
  const clock = new FakeClock();
  const u = new FaultUpstream(() => ({ kind: 'hang' }));
  await u.listen();
  const f = await startFront({ clusters: [edsCluster('c')], assignments: [assignment('c', [u.port])], routes: routes('c', { timeout: { seconds: '3' } }), timers: clock });
  try {
    const res = request(f.port, '/');
    await until(() => u.seen.length === 1, 'request reached the upstream');
    clock.advance(3000);
    const r = await res;
    assert.deepEqual([r.status, r.headers['x-envoy-response-flags']], [504, 'UT']);
    assert.equal(f.clusters.get('c')!.stats.upstream_rq_timeout.value, 1);
  } finally {
    await f.close();
    await u.close();
  }
});
