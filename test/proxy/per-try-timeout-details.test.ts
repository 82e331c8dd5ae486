// Which timeout ended a request, as the access log's %RESPONSE_CODE_DETAILS% tells it: Envoy's router
// answers a request whose last try ran out its per-try timeout with `upstream_per_try_timeout`
// (onPerTryTimeout), retries exhausted (`URX,UT`) or not retriable (`UT`), and one the route's timeout
// ended with `response_timeout` (onResponseTimeout), even while a retry was in flight. On the fake clock.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createTelemetryFilterFactory } from '../../src/proxy/filters/telemetry/index.ts';
import { MetricsRegistry } from '../../src/telemetry/metrics/registry.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { FakeClock, until } from '../resilience/fake-clock.ts';
import { telemetryConfig } from '../telemetry/drive-filter.ts';
import { cla, cluster, hcm, listener, push, request, startProxy } from './harness.ts';

const perTry = { seconds: '2' };
const never = { seconds: '0' };

function routes(): TypedAny {
  const route = (prefix: string, action: Record<string, unknown>) => ({ name: prefix, match: { prefix }, route: { cluster: 'c', ...action } });
  return {
    '@type': TypeUrl.RouteConfiguration,
    name: 'r',
    virtual_hosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          route('/exhausted', { timeout: never, retry_policy: { retry_on: 'reset', num_retries: { value: 1 }, per_try_timeout: perTry } }),
          // retriable-4xx does not cover a try that timed out: it is not retried.
          route('/not-retried', { timeout: never, retry_policy: { retry_on: 'retriable-4xx', num_retries: { value: 1 }, per_try_timeout: perTry } }),
          route('/route-timeout', { timeout: { seconds: '3' }, retry_policy: { retry_on: 'reset', num_retries: { value: 1 }, per_try_timeout: perTry } }),
        ],
      },
    ],
  };
}

const clock = new FakeClock();
let env: Awaited<ReturnType<typeof startProxy>>;
let upstream: http.Server;
let tries = 0;
let dir = '';
let logFile = '';

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'or-per-try-details-'));
  logFile = path.join(dir, 'access.log');
  // Never answers: only a timeout ends a try.
  upstream = http.createServer(() => {
    tries++;
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  env = await startProxy({ timers: clock, random: () => 0, filters: [createTelemetryFilterFactory({ registry: new MetricsRegistry() })] });
  const stats = {
    name: 'istio.stats',
    typed_config: telemetryConfig({ reporter: 'source', workload: { workload: 'client', namespace: 'foo', labels: {} }, metrics: false, access_log: { path: logFile, encoding: 'TEXT', format: '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n' } }),
  };
  push(env.proxy, [
    cluster('c'),
    cla('c', [{ port: (upstream.address() as AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { http_filters: [stats, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }] }) }]),
    routes(),
  ]);
});

after(async () => {
  await env.close();
  upstream.closeAllConnections();
  upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The access log line of this path: `path code flags details`. */
async function logged(p: string): Promise<string> {
  const line = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').find((l) => l.startsWith(`${p} `)) : undefined);
  await until(() => line() !== undefined, `the access log line of ${p}`);
  return line() as string;
}

test('retries used up on per-try timeouts: 504 URX,UT upstream_per_try_timeout, not response_timeout', async () => {
  const before = tries;
  const res = request(await env.port('0.0.0.0_8080'), '/exhausted');
  await until(() => tries === before + 1, 'the first try reached the upstream');
  clock.advance(2000); // its per-try timeout; the retry's back-off (0 ms here) runs too
  await until(() => tries === before + 2, 'the retry reached the upstream');
  clock.advance(2000);
  const r = await res;
  assert.deepEqual([r.status, r.body], [504, 'upstream request timeout']);
  assert.equal(await logged('/exhausted'), '/exhausted 504 URX,UT upstream_per_try_timeout');
});

test('a per-try timeout the retry policy does not cover: 504 UT upstream_per_try_timeout', async () => {
  const before = tries;
  const res = request(await env.port('0.0.0.0_8080'), '/not-retried');
  await until(() => tries === before + 1, 'the try reached the upstream');
  clock.advance(2000);
  assert.equal((await res).status, 504);
  assert.equal(tries, before + 1, 'not retried');
  assert.equal(await logged('/not-retried'), '/not-retried 504 UT upstream_per_try_timeout');
});

test('the route timeout ending a retried try: 504 UT response_timeout', async () => {
  const before = tries;
  const res = request(await env.port('0.0.0.0_8080'), '/route-timeout');
  await until(() => tries === before + 1, 'the first try reached the upstream');
  clock.advance(2000); // per-try timeout at 2 s, retried
  await until(() => tries === before + 2, 'the retry reached the upstream');
  clock.advance(1000); // the route's 3 s, before the retry's own per-try timeout (4 s)
  assert.equal((await res).status, 504);
  assert.equal(await logged('/route-timeout'), '/route-timeout 504 UT response_timeout');
});
