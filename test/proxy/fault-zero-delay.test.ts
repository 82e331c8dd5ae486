// A fault delay of 0 ms is no delay. Envoy's FaultFilter::delayDuration returns a duration only when it
// is > 0 ms ("Delay only if the duration is >0ms"), and fixed_delay is read in whole milliseconds
// (PROTOBUF_GET_MS_REQUIRED): so maybeSetupDelay arms no timer, sets no DI flag and counts no active
// fault, and maybeDoAbort decides the abort at once. The delay's timer is one the test holds: a request
// that armed it is seen, and it runs on the next turn.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createFaultFilterFactory, type FaultTimer } from '../../src/proxy/filters/fault/filter.ts';
import { createTelemetryFilterFactory } from '../../src/proxy/filters/telemetry/index.ts';
import { MetricsRegistry } from '../../src/telemetry/metrics/registry.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { until } from '../resilience/fake-clock.ts';
import { telemetryConfig } from '../telemetry/drive-filter.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from './harness.ts';

/** How many delays were armed; each runs on the next turn. */
let armed = 0;
const timer: FaultTimer = {
  set: (fn) => {
    armed++;
    return setImmediate(fn);
  },
  clear: (h) => clearImmediate(h as NodeJS.Immediate),
};

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
let dir = '';
let logFile = '';

function chain(name: string, port: number, fault: Record<string, unknown>) {
  const stats = { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'destination', workload: { workload: 'api', namespace: 'foo', labels: {} }, metrics: false, access_log: { path: logFile, encoding: 'TEXT', format: '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\n' } }) };
  const filters = [stats, { name: 'envoy.filters.http.fault', typed_config: { '@type': TypeUrl.HttpFault, ...fault } }, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }];
  return listener(name, port, [{ filter: hcm('r', { http_filters: filters }) }]);
}

const ALL = { numerator: 100, denominator: 'HUNDRED' };

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'or-fault-zero-'));
  logFile = path.join(dir, 'access.log');
  backend = await echoBackend();
  env = await startProxy({ filters: [createFaultFilterFactory({ random: () => 0, timer }), createTelemetryFilterFactory({ registry: new MetricsRegistry() })] });
  push(env.proxy, [
    cluster('b'),
    cla('b', [{ port: backend.port }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'b' }] }]),
    chain('zero', 18101, { delay: { fixed_delay: { seconds: '0' }, percentage: ALL } }),
    chain('sub-ms', 18102, { delay: { fixed_delay: { nanos: 500_000 }, percentage: ALL } }),
    chain('zero-abort', 18103, { delay: { fixed_delay: {}, percentage: ALL }, abort: { http_status: 503, percentage: ALL } }),
    chain('one-ms', 18104, { delay: { fixed_delay: { nanos: 1_000_000 }, percentage: ALL } }),
  ]);
});

after(async () => {
  await env.close();
  backend.server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The access log line of this path: `path code flags`. */
async function logged(p: string): Promise<string> {
  const line = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').find((l) => l.startsWith(`${p} `)) : undefined);
  await until(() => line() !== undefined, `the access log line of ${p}`);
  return line() as string;
}

test('a 0 ms delay (and one under 1 ms) arms no timer and sets no DI: the request goes straight on', async () => {
  assert.equal((await request(await env.port('zero'), '/zero')).status, 200);
  assert.equal((await request(await env.port('sub-ms'), '/sub-ms')).status, 200);
  assert.equal(armed, 0, 'no delay timer');
  assert.equal(await logged('/zero'), '/zero 200 -');
  assert.equal(await logged('/sub-ms'), '/sub-ms 200 -');
});

test('a 0 ms delay with an abort aborts at once: FI, not DI', async () => {
  assert.equal((await request(await env.port('zero-abort'), '/zero-abort')).status, 503);
  assert.equal(armed, 0, 'no delay timer');
  assert.equal(await logged('/zero-abort'), '/zero-abort 503 FI');
});

test('a 1 ms delay still delays: DI', async () => {
  const before = armed;
  assert.equal((await request(await env.port('one-ms'), '/one-ms')).status, 200);
  assert.equal(armed - before, 1);
  assert.equal(await logged('/one-ms'), '/one-ms 200 DI');
});
