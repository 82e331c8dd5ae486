// A gRPC ext_authz provider is a peer like any other: what it writes in its trailers is its own. One that
// answers `grpc-message` with a malformed percent-escape (`%E0%A4%A`) is a failed check (403, the
// provider's error), not an exception out of the HTTP/2 client's 'trailers' event, which ended the proxy.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import type { ExtensionProvider } from '../../src/config/types/other.ts';
import { translateAuthorization } from '../../src/translate/authorization.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, push, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { policy } from './simulate.ts';

const AUTHZ = 'outbound|9000||authz.foo.svc.cluster.local';
const INBOUND = 'inbound|8000||';
const provider: ExtensionProvider = { name: 'grpc-authz', envoyExtAuthzGrpc: { service: 'authz.foo.svc.cluster.local', port: 9000, timeout: '5s' } };
const CUSTOM = policy('ext', 'foo', { action: 'CUSTOM', provider: { name: 'grpc-authz' }, rules: [{ to: [{ operation: { paths: ['/secure/*'] } }] }] });

let authz: http2.Http2Server;
let env: Awaited<ReturnType<typeof startProxy>>;
let echo: Awaited<ReturnType<typeof echoBackend>>;
let port = 0;
let message = '';
const uncaught: unknown[] = [];
const onUncaught = (err: unknown): void => {
  uncaught.push(err);
};

before(async () => {
  process.on('uncaughtException', onUncaught);
  // A provider that answers every check with a gRPC error whose message it escaped badly.
  authz = http2.createServer();
  authz.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.resume();
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '13', 'grpc-message': message }));
    stream.end();
  });
  await new Promise<void>((r) => authz.listen(0, '127.0.0.1', r));
  echo = await echoBackend();
  env = await startProxy({ metadata: { NAMESPACE: 'foo', WORKLOAD_NAME: 'api', LABELS: { app: 'api' } } });
  const target = { workloadLabels: { app: 'api' }, namespace: 'foo', rootNamespace: 'istio-system', trustDomain: 'cluster.local', extensionProviders: [provider] };
  const filters = [...translateAuthorization([CUSTOM], target).http, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }];
  const listener: TypedAny = {
    '@type': TypeUrl.Listener,
    name: 'inbound-http',
    address: { socket_address: { address: '0.0.0.0', port_value: 15506 } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm(INBOUND, { http_filters: filters }) }] }],
  };
  push(env.proxy, [
    cluster(AUTHZ, { http2: true }),
    cla(AUTHZ, [{ port: (authz.address() as net.AddressInfo).port }]),
    cluster(INBOUND),
    cla(INBOUND, [{ port: echo.port }]),
    routeConfig(INBOUND, [{ domains: ['*'], routes: [{ prefix: '/', cluster: INBOUND }] }]),
    listener,
  ]);
  port = await env.port('inbound-http');
});

after(async () => {
  process.removeListener('uncaughtException', onUncaught);
  await env.close();
  authz.close();
  echo.server.closeAllConnections();
  echo.server.close();
});

test('a provider whose grpc-message is not valid percent-encoding fails the check (403), the proxy stays up', async () => {
  for (const m of ['%E0%A4%A', '%', 'broken%zz']) {
    message = m;
    assert.equal((await request(port, '/secure/x')).status, 403, m);
  }
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(uncaught, []);
  assert.equal((await request(port, '/open')).status, 200, 'still serving');
});
