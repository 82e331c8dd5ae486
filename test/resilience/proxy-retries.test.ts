// The seed's retry policy through a real proxy, from the route the connection manager matched: against a
// 5xx storm a request is tried exactly 1 + 3 times and the last 503 is passed on; a storm that ends is retried into a
// success; a request without retries is tried once. Back-off runs on the injected clock.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, hcm, listener, push, request, startProxy } from '../proxy/harness.ts';
import { advanceUntilSettled, FakeClock } from './fake-clock.ts';
import { FaultUpstream } from './fault-upstream.ts';

const clock = new FakeClock();
let upstream: FaultUpstream;
let env: Awaited<ReturnType<typeof startProxy>>;
let port: number;

const seedRetries = { retry_on: '5xx,connect-failure,reset', num_retries: { value: 3 }, per_try_timeout: { seconds: '2' } };

function routes(): TypedAny {
  const route = (prefix: string, retry?: object) => ({
    name: prefix,
    match: { prefix },
    route: { cluster: 'outbound|9898||podinfo', timeout: { seconds: '0' }, ...(retry ? { retry_policy: retry } : {}) },
  });
  return {
    '@type': TypeUrl.RouteConfiguration,
    name: 'http.8080',
    virtual_hosts: [{ name: 'podinfo', domains: ['*'], routes: [route('/retried', seedRetries), route('/once')] }],
  };
}

before(async () => {
  // Requests whose path ends in /fail-N fail their first N tries with 503, then succeed.
  upstream = new FaultUpstream((_n, req) => {
    const m = /\/fail-(\d+)$/.exec(req.url ?? '');
    const want = m ? Number(m[1]) : Number.POSITIVE_INFINITY;
    // The plan runs before the request is recorded: `tries` counts the earlier tries of this path.
    const tries = upstream.seen.filter((s) => s.path === req.url).length;
    return tries < want ? { kind: 'status', status: 503 } : { kind: 'ok' };
  });
  await upstream.listen();
  env = await startProxy({ timers: clock });
  push(env.proxy, [
    cluster('outbound|9898||podinfo'),
    cla('outbound|9898||podinfo', [{ port: upstream.port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
    routes(),
  ]);
  port = await env.port('0.0.0.0_8080');
});

after(async () => {
  await env.close();
  await upstream.close();
});

/** Sends a request and advances the clock through its back-offs until it answers. */
function send(path: string) {
  return advanceUntilSettled(clock, request(port, path, { host: 'podinfo' }), `an answer to ${path}`);
}

const triesOf = (path: string) => upstream.seen.filter((s) => s.path === path).length;

test('against a 5xx storm the seed policy tries exactly 4 times, then passes the last 503 on', async () => {
  const res = await send('/retried/storm');
  assert.equal(res.status, 503);
  assert.equal(triesOf('/retried/storm'), 4);
  const stats = await (await fetch(`http://127.0.0.1:${env.admin}/stats`)).text();
  assert.match(stats, /cluster\.outbound\|9898\|\|podinfo\.upstream_rq_retry: 3/);
});

test('a storm that ends within the attempts is retried into a success', async () => {
  const res = await send('/retried/fail-2');
  assert.equal(res.status, 200);
  assert.equal(triesOf('/retried/fail-2'), 3);
});

test('a route without a retry policy tries once and passes the 503 through', async () => {
  const res = await send('/once/storm');
  assert.equal(res.status, 503);
  assert.equal(res.headers['x-envoy-response-flags'] ?? null, null, 'the upstream answered; no local reply');
  assert.equal(triesOf('/once/storm'), 1);
});
