// The outcome labels of istio_requests_total through a real proxy, as Istio's stats filter sets them
// (istio/proxy istio_stats.cc, IstioStatsFilter::log and populateFlagsAndConnectionSecurity):
// - `response_flags` is Envoy's ResponseFlagUtils::toShortString: the flags in the order the stream set
//   them (Envoy 1.30+, the Envoy of Istio 1.22–1.24: StreamInfoImpl keeps a vector; Istio 1.20–1.21 list
//   them by flag bit), never sorted by name. A delay a client walks away from is `DI,DC` in every version;
//   retries run out on a refused connect are `URX,UF` (the router's maybeRetryReset sets URX before
//   onUpstreamAbort sets UF).
// - `request_protocol` is `grpc` only for Grpc::Common::isGrpcRequestHeaders: a content-type of exactly
//   `application/grpc` or `application/grpc+…` (`application/grpc-web…` is not gRPC).
// - `grpc_response_status` only for a gRPC request (else ""), from Grpc::Common::getGrpcStatus(trailers,
//   headers, info): grpc-status in trailers, then in headers, then the HTTP status mapped by
//   Grpc::Utility::httpToGrpcStatus (503 → 14).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { realTimers, type Timers } from '../../src/proxy/http/router.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, closedPort, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { telemetryConfig } from './drive-filter.ts';
import { until } from './tcp-authz-pair.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;

/** The fault filter's delay: its timer armed is the request held by the delay (flag DI set). */
const DELAY_MS = 30_000;
/** The proxy's timers: real, counting each delay armed. */
let delaysArmed = 0;
const timers: Timers = {
  set: (fn, ms) => {
    if (ms === DELAY_MS) delaysArmed++;
    return realTimers.set(fn, ms);
  },
  clear: realTimers.clear,
};

const stats: TypedAny = {
  ...hcm('r'),
  http_filters: [
    { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'source', workload: { workload: 'sleep', namespace: 'shop', labels: { app: 'sleep' } }, metrics: true }) },
    {
      name: 'envoy.filters.http.fault',
      typed_config: { '@type': TypeUrl.HttpFault, delay: { fixed_delay: { seconds: String(DELAY_MS / 1000) }, percentage: { numerator: 100, denominator: 'HUNDRED' } }, headers: [{ name: 'x-delay', present_match: true }] },
    },
    { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
  ],
};

before(async () => {
  backend = await echoBackend((req, res) => {
    req.resume();
    if (req.url === '/grpc-web') res.writeHead(200, { 'content-type': 'application/grpc-web+proto', 'grpc-status': '0' }).end();
    else if (req.url === '/json-with-grpc-status') res.writeHead(200, { 'content-type': 'application/json', 'grpc-status': '5' }).end('{}');
    else if (req.url === '/unavailable') res.writeHead(503, { 'content-type': 'text/plain' }).end('no');
    else res.end('ok');
  });
  env = await startProxy({ timers });
  push(env.proxy, [
    cluster('web'),
    cla('web', [{ port: backend.port }]),
    cluster('dead'),
    cla('dead', [{ port: await closedPort() }]),
    listener('outbound', 15001, [{ filter: stats }]),
    routeConfig('r', [
      { domains: ['web'], routes: [{ prefix: '/', cluster: 'web' }] },
      { domains: ['dead'], routes: [{ prefix: '/', cluster: 'dead', retries: 1 }] },
    ]),
  ]);
});

after(async () => {
  await env.close();
  backend.server.closeAllConnections();
  backend.server.close();
});

type Labels = Record<string, string>;

async function seriesWith(match: Labels): Promise<Labels[]> {
  const text = (await request(env.admin, '/stats/prometheus')).body;
  return text
    .split('\n')
    .filter((l) => l.startsWith('istio_requests_total{'))
    .map((l): Labels => ({ ...(Object.fromEntries([...l.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]])) as Labels), value: l.slice(l.lastIndexOf(' ') + 1) }))
    .filter((s) => Object.entries(match).every(([k, v]) => s[k] === v));
}

/** Polls the proxy's stats until `check` holds (a request's series is recorded as its stream ends). */
const whenStats = (check: () => Promise<boolean>): Promise<true> => until(async () => ((await check()) ? true : undefined));

const pick = (s: Labels | undefined, keys: string[]): Labels => Object.fromEntries(keys.map((k) => [k, s?.[k] ?? '(absent)']));

test('a client that leaves during a fault delay: DI,DC, in the order Envoy set them, not sorted by name', async () => {
  const sock = net.connect(await env.port('outbound'), '127.0.0.1');
  sock.on('error', () => {});
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write('GET /slow HTTP/1.1\r\nHost: web\r\nx-delay: 1\r\n\r\n');
  await until(() => (delaysArmed === 1 ? true : undefined));
  sock.destroy();
  await whenStats(async () => (await seriesWith({ response_code: '0' })).length > 0);
  assert.deepEqual(
    (await seriesWith({ response_code: '0' })).map((s) => s['response_flags']),
    ['DI,DC'],
  );
});

test('retries exhausted on a refused connect: URX,UF (Envoy 1.30+: URX is set first, by maybeRetryReset)', async () => {
  assert.equal((await request(await env.port('outbound'), '/', { host: 'dead' })).status, 503);
  await whenStats(async () => (await seriesWith({ response_code: '503', request_protocol: 'http', grpc_response_status: '' })).some((s) => s['response_flags'] !== '-'));
  assert.deepEqual(
    (await seriesWith({ response_code: '503', request_protocol: 'http' })).map((s) => s['response_flags']),
    ['URX,UF'],
  );
});

test('gRPC-Web is not gRPC: request_protocol http and no grpc_response_status, whatever the response says', async () => {
  const res = await request(await env.port('outbound'), '/grpc-web', { host: 'web', method: 'POST', headers: { 'content-type': 'application/grpc-web+proto' }, body: 'x' });
  assert.equal(res.headers['grpc-status'], '0');
  await whenStats(async () => (await seriesWith({ response_code: '200' })).length > 0);
  const want = { request_protocol: 'http', grpc_response_status: '' };
  assert.deepEqual(pick((await seriesWith({ response_code: '200' }))[0], Object.keys(want)), want);
});

test('a plain HTTP request whose response carries grpc-status: no grpc_response_status (the request is not gRPC)', async () => {
  await request(await env.port('outbound'), '/json-with-grpc-status', { host: 'web', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  await whenStats(async () => (await seriesWith({ response_code: '200' })).reduce((n, s) => n + Number(s['value']), 0) === 2);
  assert.deepEqual(
    (await seriesWith({ response_code: '200' })).map((s) => `${s['request_protocol']} ${s['grpc_response_status']}`),
    ['http '],
    'one series: both requests are plain HTTP without a gRPC status',
  );
});

test('a gRPC request answered by a plain 503: grpc_response_status from the HTTP status (httpToGrpcStatus: 14)', async () => {
  const res = await request(await env.port('outbound'), '/unavailable', { host: 'web', method: 'POST', headers: { 'content-type': 'application/grpc', te: 'trailers' }, body: 'x' });
  assert.equal(res.status, 503);
  await whenStats(async () => (await seriesWith({ response_code: '503', request_protocol: 'grpc' })).length > 0);
  const want = { request_protocol: 'grpc', grpc_response_status: '14', response_flags: '-' };
  assert.deepEqual(pick((await seriesWith({ response_code: '503', request_protocol: 'grpc' }))[0], Object.keys(want)), want);
});
