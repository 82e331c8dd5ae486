// A CUSTOM check that outlives its provider's timeout ends on the proxy's clock, as Envoy's ext_authz:
// 403 with UAEX (or the request goes on with failOpen, failure_mode_allow), a TCP connection closed, the
// check itself reset. Real HTTP and gRPC authorization servers hold every check; the proxy's timers are a
// FakeClock, so the timeout (60 s, far past the test's bound) fires only when the test advances it.
// The timeout is the whole call's, the dial included (Envoy's async client request timeout): a provider
// reached in TLS that accepts TCP and never answers the handshake is given up at the timeout, its
// connection closed.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { ExtensionProvider } from '../../src/config/types/other.ts';
import { translateAuthorization } from '../../src/translate/authorization.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, push, request, routeConfig, startProxy, tcpProxy } from '../proxy/harness.ts';
import { FakeClock, until } from '../resilience/fake-clock.ts';
import { telemetryConfig } from '../telemetry/drive-filter.ts';
import { type HeldAuthz, startHeldAuthz } from './held-authz.ts';
import { policy } from './simulate.ts';

const GRPC_AUTHZ = 'outbound|9000||authz.foo.svc.cluster.local';
const HTTP_AUTHZ = 'outbound|8000||authz-http.foo.svc.cluster.local';
const HUNG_AUTHZ = 'outbound|9001||authz-hung.foo.svc.cluster.local';
const SHORT_AUTHZ = 'outbound|9002||authz-short.foo.svc.cluster.local';
/** SHORT_AUTHZ's connect_timeout: a dial to it fails before the check's own timeout. */
const CONNECT_MS = 30_000;
const INBOUND = 'inbound|8000||';
const TIMEOUT_MS = 60_000;
/** Well under the provider's timeout: without the proxy's clock, nothing answers in time. */
const bounded = { timeout: 10_000 };

const CUSTOM = policy('ext', 'foo', { action: 'CUSTOM', provider: { name: 'authz' }, rules: [{ to: [{ operation: { paths: ['/secure/*'] } }] }] });
const grpcProvider: ExtensionProvider = { name: 'authz', envoyExtAuthzGrpc: { service: 'authz.foo.svc.cluster.local', port: 9000, timeout: '60s' } };
/** A gRPC provider whose cluster originates TLS to an endpoint that never answers the handshake. */
const hungProvider: ExtensionProvider = { name: 'authz', envoyExtAuthzGrpc: { service: 'authz-hung.foo.svc.cluster.local', port: 9001, timeout: '60s' } };
/** A gRPC provider behind a cluster whose connect_timeout is half the check's timeout; its endpoint is the hung one. */
const shortProvider: ExtensionProvider = { name: 'authz', envoyExtAuthzGrpc: { service: 'authz-short.foo.svc.cluster.local', port: 9002, timeout: '60s' } };
const httpProvider = (failOpen: boolean): ExtensionProvider => ({ name: 'authz', envoyExtAuthzHttp: { service: 'authz-http.foo.svc.cluster.local', port: 8000, timeout: '60s', failOpen } });

const clock = new FakeClock();
/** Connections the hung provider accepted and never answered; `closed` once the proxy closed one. */
const hungDials: { socket: net.Socket; closed: boolean }[] = [];

/** The providers, holding every check they get. */
let authz: HeldAuthz;
let grpcCalls: HeldAuthz['grpcCalls'];
let httpChecks: HeldAuthz['httpChecks'];
let hungAuthz: net.Server;
let echo: Awaited<ReturnType<typeof echoBackend>>;
let env: Awaited<ReturnType<typeof startProxy>>;
let dir = '';
let logFile = '';

function checkedListener(name: string, provider: ExtensionProvider): TypedAny {
  const target = { workloadLabels: { app: 'api' }, namespace: 'foo', rootNamespace: 'istio-system', trustDomain: 'cluster.local', extensionProviders: [provider] };
  const log = { path: logFile, encoding: 'TEXT' as const, format: '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n' };
  const stats = { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'destination', workload: { workload: 'api', namespace: 'foo', labels: {} }, metrics: false, access_log: log }) };
  const httpFilters = [stats, ...translateAuthorization([CUSTOM], target).http, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }];
  return {
    '@type': TypeUrl.Listener,
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm(INBOUND, { http_filters: httpFilters }) }] }],
  };
}

/** A TCP chain behind Istio's CUSTOM (the network ext_authz filter, gRPC only) in front of tcp_proxy. */
function tcpCheckedListener(name: string, provider: ExtensionProvider = grpcProvider): TypedAny {
  const target = { workloadLabels: { app: 'api' }, namespace: 'foo', rootNamespace: 'istio-system', trustDomain: 'cluster.local', extensionProviders: [provider] };
  const tcpCustom = policy('ext-tcp', 'foo', { action: 'CUSTOM', provider: { name: 'authz' }, rules: [{}] });
  const filters = [...translateAuthorization([tcpCustom], target).tcp, { name: 'envoy.filters.network.tcp_proxy', typed_config: tcpProxy(INBOUND) }];
  return {
    '@type': TypeUrl.Listener,
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{ filters }],
  };
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'or-ext-authz-timeout-'));
  logFile = path.join(dir, 'access.log');
  authz = await startHeldAuthz();
  ({ grpcCalls, httpChecks } = authz);
  hungAuthz = net.createServer((socket) => {
    const held = { socket, closed: false };
    // Read and dropped (the ClientHello goes unanswered), so the proxy's close is seen.
    socket.resume();
    socket.on('error', () => {});
    socket.on('close', () => {
      held.closed = true;
    });
    hungDials.push(held);
  });
  await new Promise<void>((r) => hungAuthz.listen(0, '127.0.0.1', r));
  echo = await echoBackend();
  // The default filters: the proxy's own timers must reach ext_authz.
  env = await startProxy({ metadata: { NAMESPACE: 'foo', WORKLOAD_NAME: 'api', LABELS: { app: 'api' } }, timers: clock });
  push(env.proxy, [
    cluster(GRPC_AUTHZ, { http2: true }),
    cla(GRPC_AUTHZ, [{ port: authz.grpcPort }]),
    cluster(HTTP_AUTHZ),
    cla(HTTP_AUTHZ, [{ port: authz.httpPort }]),
    // TLS origination; a connect timeout (on the proxy's clock) far past the test, so only the check's timeout can end the dial.
    {
      ...cluster(HUNG_AUTHZ, { http2: true }),
      connect_timeout: { seconds: '600' },
      transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': TypeUrl.UpstreamTlsContext, sni: 'authz-hung.foo.svc.cluster.local' } },
    },
    cla(HUNG_AUTHZ, [{ port: (hungAuthz.address() as net.AddressInfo).port }]),
    {
      ...cluster(SHORT_AUTHZ, { http2: true }),
      connect_timeout: { seconds: String(CONNECT_MS / 1000) },
      transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': TypeUrl.UpstreamTlsContext, sni: 'authz-short.foo.svc.cluster.local' } },
    },
    cla(SHORT_AUTHZ, [{ port: (hungAuthz.address() as net.AddressInfo).port }]),
    cluster(INBOUND),
    cla(INBOUND, [{ port: echo.port }]),
    routeConfig(INBOUND, [{ domains: ['*'], routes: [{ prefix: '/', cluster: INBOUND }] }]),
    checkedListener('grpc-checked', grpcProvider),
    checkedListener('http-checked', httpProvider(false)),
    checkedListener('http-fail-open', httpProvider(true)),
    tcpCheckedListener('tcp-checked'),
    checkedListener('grpc-hung', hungProvider),
    tcpCheckedListener('tcp-hung', hungProvider),
    checkedListener('grpc-short', shortProvider),
  ]);
});

after(async () => {
  authz.close();
  for (const d of hungDials) d.socket.destroy();
  hungAuthz.close();
  await env.close();
  echo.server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A few turns of the event loop: room for what should not happen to show. */
async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/** The access log line of this path: `path code flags details`. */
async function logged(p: string): Promise<string> {
  const line = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').find((l) => l.startsWith(`${p} `)) : undefined);
  await until(() => line() !== undefined, `the access log line of ${p}`);
  return line() as string;
}

test('HTTP provider: a check held past its timeout is a 403 with UAEX once the clock reaches it, and the check is reset', bounded, async () => {
  const answer = request(await env.port('http-checked'), '/secure/http', { host: 'api.foo' });
  await until(() => httpChecks.length === 1, 'the check held by the provider');
  const check = httpChecks[0]!;
  clock.advance(TIMEOUT_MS - 1);
  assert.equal(check.gone, false, 'the check is still out a millisecond before its timeout');
  clock.advance(1);
  assert.equal((await answer).status, 403);
  assert.equal(await logged('/secure/http'), '/secure/http 403 UAEX ext_authz_error');
  await until(() => check.gone, 'the timed-out check request closed');
  httpChecks.length = 0;
});

test('HTTP provider with failOpen: the timed-out check lets the request through to the app', bounded, async () => {
  const answer = request(await env.port('http-fail-open'), '/secure/open', { host: 'api.foo' });
  await until(() => httpChecks.length === 1, 'the check held by the provider');
  clock.advance(TIMEOUT_MS);
  assert.equal((await answer).status, 200);
  assert.equal(await logged('/secure/open'), '/secure/open 200 - via_upstream');
  httpChecks.length = 0;
});

test('gRPC provider: a Check held past its timeout is a 403 with UAEX once the clock reaches it, and the call is cancelled', bounded, async () => {
  const answer = request(await env.port('grpc-checked'), '/secure/grpc', { host: 'api.foo' });
  await until(() => grpcCalls.length === 1, 'the Check held by the provider');
  const { call } = grpcCalls[0]!;
  clock.advance(TIMEOUT_MS - 1);
  assert.equal(call.cancelled, false, 'the call is still out a millisecond before its timeout');
  clock.advance(1);
  assert.equal((await answer).status, 403);
  assert.equal(await logged('/secure/grpc'), '/secure/grpc 403 UAEX ext_authz_error');
  await until(() => call.cancelled, 'the timed-out call cancelled');
  grpcCalls.length = 0;
});

test('TCP (the network filter): a connection whose Check is held past its timeout is closed once the clock reaches it, and the call is cancelled', bounded, async () => {
  const s = net.connect(await env.port('tcp-checked'), '127.0.0.1');
  s.on('error', () => {});
  let closed = false;
  s.on('close', () => {
    closed = true;
  });
  s.write('GET / HTTP/1.1\r\nhost: api.foo\r\n\r\n');
  await until(() => grpcCalls.length === 1, 'the Check held by the provider');
  const { call } = grpcCalls[0]!;
  clock.advance(TIMEOUT_MS - 1);
  assert.equal(call.cancelled, false, 'the call is still out a millisecond before its timeout');
  clock.advance(1);
  await until(() => closed, 'the connection closed by the proxy');
  assert.equal(echo.requests.some((r) => r.headers.host === 'api.foo' && r.url === '/'), false, 'nothing reached the app');
  await until(() => call.cancelled, 'the timed-out call cancelled');
  grpcCalls.length = 0;
});

test('gRPC provider whose TLS handshake never completes: the timeout covers the dial, a 403 with UAEX once the clock reaches it, the dial closed', bounded, async () => {
  let answered = false;
  const answer = request(await env.port('grpc-hung'), '/secure/hung', { host: 'api.foo' }).finally(() => {
    answered = true;
  });
  await until(() => hungDials.length === 1 && hungDials[0]!.socket.bytesRead > 0, 'the dial in its TLS handshake');
  const dial = hungDials[0]!;
  clock.advance(TIMEOUT_MS - 1);
  await turns();
  assert.equal(answered, false, 'no answer a millisecond before the timeout');
  assert.equal(dial.closed, false, 'the dial is still open a millisecond before the timeout');
  clock.advance(1);
  assert.equal((await answer).status, 403);
  assert.equal(await logged('/secure/hung'), '/secure/hung 403 UAEX ext_authz_error');
  await until(() => dial.closed, 'the dial closed by the proxy');
  hungDials.length = 0;
});

test('TCP (the network filter) with a provider whose TLS handshake never completes: the connection closed once the clock reaches the timeout, the dial too', bounded, async () => {
  const s = net.connect(await env.port('tcp-hung'), '127.0.0.1');
  s.on('error', () => {});
  let closed = false;
  s.on('close', () => {
    closed = true;
  });
  s.write('GET /hung HTTP/1.1\r\nhost: api.foo\r\n\r\n');
  await until(() => hungDials.length === 1 && hungDials[0]!.socket.bytesRead > 0, 'the dial in its TLS handshake');
  const dial = hungDials[0]!;
  clock.advance(TIMEOUT_MS - 1);
  await turns();
  assert.equal(closed, false, 'the connection is held a millisecond before the timeout');
  assert.equal(dial.closed, false, 'the dial is still open a millisecond before the timeout');
  clock.advance(1);
  await until(() => closed, 'the connection closed by the proxy');
  assert.equal(echo.requests.some((r) => r.url === '/hung'), false, 'nothing reached the app');
  await until(() => dial.closed, 'the dial closed by the proxy');
  hungDials.length = 0;
});

test("gRPC provider whose cluster's connect_timeout ends the handshake first: the dial fails at it, on the proxy's clock, a 403 with UAEX", bounded, async () => {
  // The provider's cluster is dialed by the filter, never by the router: it runs on the proxy's timers
  // because the cluster manager was built with them.
  let answered = false;
  const answer = request(await env.port('grpc-short'), '/secure/short', { host: 'api.foo' }).finally(() => {
    answered = true;
  });
  await until(() => hungDials.length === 1 && hungDials[0]!.socket.bytesRead > 0, 'the dial in its TLS handshake');
  const dial = hungDials[0]!;
  clock.advance(CONNECT_MS - 1);
  await turns();
  assert.equal(answered, false, 'no answer a millisecond before the connect timeout');
  assert.equal(dial.closed, false, 'the dial is still open a millisecond before the connect timeout');
  clock.advance(1);
  assert.equal((await answer).status, 403);
  assert.equal(await logged('/secure/short'), '/secure/short 403 UAEX ext_authz_error');
  await until(() => dial.closed, 'the dial closed by the proxy');
  hungDials.length = 0;
});
