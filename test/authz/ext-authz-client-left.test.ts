// A request whose client resets or leaves while its HTTP ext_authz check is out cancels the check, as
// Envoy's filter calls client_->cancel() in onDestroy: a real gRPC Authorization server and a real HTTP
// authorization server hold their answers, and see the call cancelled (gRPC: RST_STREAM CANCEL; HTTP:
// the check request's connection closed).
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type { ExtensionProvider } from '../../src/config/types/other.ts';
import { translateAuthorization } from '../../src/translate/authorization.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { until } from '../telemetry/tcp-authz-pair.ts';
import { cla, cluster, echoBackend, hcm, push, routeConfig, startProxy } from '../proxy/harness.ts';
import { type HeldAuthz, startHeldAuthz } from './held-authz.ts';
import { policy } from './simulate.ts';

const GRPC_AUTHZ = 'outbound|9000||authz.foo.svc.cluster.local';
const HTTP_AUTHZ = 'outbound|8000||authz-http.foo.svc.cluster.local';
const INBOUND = 'inbound|8000||';

// Timeouts well past the test: the check must still be out when the client leaves.
const grpcProvider: ExtensionProvider = { name: 'authz', envoyExtAuthzGrpc: { service: 'authz.foo.svc.cluster.local', port: 9000, timeout: '60s' } };
const httpProvider: ExtensionProvider = { name: 'authz', envoyExtAuthzHttp: { service: 'authz-http.foo.svc.cluster.local', port: 8000, timeout: '60s' } };
const CUSTOM = policy('ext', 'foo', { action: 'CUSTOM', provider: { name: 'authz' }, rules: [{ to: [{ operation: { paths: ['/secure/*'] } }] }] });


/** The providers, holding every check they get. */
let authz: HeldAuthz;
let grpcCalls: HeldAuthz['grpcCalls'];
let httpChecks: HeldAuthz['httpChecks'];
let echo: Awaited<ReturnType<typeof echoBackend>>;
let env: Awaited<ReturnType<typeof startProxy>>;

function httpListener(name: string, provider: ExtensionProvider): TypedAny {
  const target = { workloadLabels: { app: 'api' }, namespace: 'foo', rootNamespace: 'istio-system', trustDomain: 'cluster.local', extensionProviders: [provider] };
  const httpFilters = [...translateAuthorization([CUSTOM], target).http, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }];
  return {
    '@type': TypeUrl.Listener,
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm(INBOUND, { http_filters: httpFilters }) }] }],
  };
}

before(async () => {
  authz = await startHeldAuthz();
  ({ grpcCalls, httpChecks } = authz);
  echo = await echoBackend();
  env = await startProxy({ metadata: { NAMESPACE: 'foo', WORKLOAD_NAME: 'api', LABELS: { app: 'api' } } });
  push(env.proxy, [
    cluster(GRPC_AUTHZ, { http2: true }),
    cla(GRPC_AUTHZ, [{ port: authz.grpcPort }]),
    cluster(HTTP_AUTHZ),
    cla(HTTP_AUTHZ, [{ port: authz.httpPort }]),
    cluster(INBOUND),
    cla(INBOUND, [{ port: echo.port }]),
    routeConfig(INBOUND, [{ domains: ['*'], routes: [{ prefix: '/', cluster: INBOUND }] }]),
    httpListener('grpc-checked', grpcProvider),
    httpListener('http-checked', httpProvider),
  ]);
});

after(async () => {
  authz.close();
  await env.close();
  echo.server.close();
});

/** An HTTP/1.1 request on a raw socket, left unanswered for the test to reset. */
async function held(listener: string, path: string): Promise<net.Socket> {
  const s = net.connect(await env.port(listener), '127.0.0.1');
  s.on('error', () => {});
  s.write(`GET ${path} HTTP/1.1\r\nhost: api.foo\r\n\r\n`);
  return s;
}

test("gRPC provider: an HTTP/1.1 client that resets while its check is out cancels the call, as Envoy's onDestroy client_->cancel()", async () => {
  const s = await held('grpc-checked', '/secure/a');
  const { call, answer } = await until(() => grpcCalls[0]);
  assert.equal(call.cancelled, false, 'the check is out, held by the provider');
  s.resetAndDestroy();
  await until(() => (call.cancelled ? true : undefined));
  answer(null, { status: { code: 0 } });
  grpcCalls.length = 0;
});

test('gRPC provider: an HTTP/2 client that cancels its stream while the check is out cancels the call', async () => {
  const session = http2.connect(`http://127.0.0.1:${await env.port('grpc-checked')}`);
  session.on('error', () => {});
  const stream = session.request({ ':path': '/secure/b', ':authority': 'api.foo' });
  stream.on('error', () => {});
  const { call, answer } = await until(() => grpcCalls[0]);
  assert.equal(call.cancelled, false);
  stream.close(http2.constants.NGHTTP2_CANCEL);
  await until(() => (call.cancelled ? true : undefined));
  answer(null, { status: { code: 0 } });
  grpcCalls.length = 0;
  session.close();
});

test('HTTP provider: a client that resets while its check is out cancels the check request (its connection is closed)', async () => {
  const s = await held('http-checked', '/secure/c');
  const check = await until(() => httpChecks[0]);
  assert.equal(check.gone, false, 'the check is out, held by the provider');
  s.resetAndDestroy();
  await until(() => (check.gone ? true : undefined));
  httpChecks.length = 0;
});
