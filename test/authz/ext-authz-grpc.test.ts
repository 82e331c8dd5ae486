// CUSTOM with an envoyExtAuthzGrpc provider, end to end: a real @grpc/grpc-js Authorization server, a
// real proxy configured from translated policies, an HTTP listener and a TCP listener in front of backends.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { ExtensionProvider } from '../../src/config/types/other.ts';
import { translateAuthorization } from '../../src/translate/authorization.ts';
import { canonicalize, type TypedAny } from '../../src/xds/any.ts';
import { protoIncludeDirs } from '../../src/xds/protos.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, push, request, routeConfig, startProxy, tcpProxy } from '../proxy/harness.ts';
import { policy } from './simulate.ts';

type Check = { attributes?: { source?: { address?: { socket_address?: { address?: string } } }; request?: { http?: { path?: string; headers?: Record<string, string> } } } };

const checks: Check[] = [];
let tcpAllowed = true;
/** When set, the server answers with this gRPC error instead of a CheckResponse. */
let failWith: grpc.status | undefined;

function check(call: grpc.ServerUnaryCall<Check, unknown>, cb: grpc.sendUnaryData<unknown>): void {
  const req = call.request;
  checks.push(req);
  const http = req.attributes?.request?.http;
  if (failWith !== undefined) cb({ code: failWith, details: 'authz broken' });
  else if (!http) cb(null, { status: { code: tcpAllowed ? 0 : 7 } });
  else if (http.headers?.['x-user'] === 'alice') {
    cb(null, {
      status: { code: 0 },
      ok_response: {
        headers: [{ header: { key: 'x-authz-user', value: 'alice' } }, { header: { key: 'x-tag', value: 'two' }, append: { value: true } }],
        headers_to_remove: ['x-remove-me'],
        response_headers_to_add: [{ header: { key: 'x-authz-note', value: 'checked' } }],
      },
    });
  } else {
    cb(null, {
      status: { code: 7 },
      denied_response: { status: { code: 'Unauthorized' }, body: 'no entry for mallory', headers: [{ header: { key: 'x-reason', value: 'not alice' } }] },
    });
  }
}

const AUTHZ = 'outbound|9000||authz.foo.svc.cluster.local';
const INBOUND_HTTP = 'inbound|8000||';
const INBOUND_TCP = 'inbound|5000||';
const HTTP_PORT = 15506;
const TCP_PORT = 15507;

const provider: ExtensionProvider = { name: 'grpc-authz', envoyExtAuthzGrpc: { service: 'authz.foo.svc.cluster.local', port: 9000, timeout: '5s' } };
const CUSTOM = policy('ext', 'foo', {
  action: 'CUSTOM',
  provider: { name: 'grpc-authz' },
  rules: [
    // HTTP-only: dropped on TCP, as Istio drops ALLOW-like rules with HTTP fields.
    { to: [{ operation: { paths: ['/secure/*'] } }] },
    // Connection facts: the TCP listener's port, never the HTTP one.
    { to: [{ operation: { ports: [String(TCP_PORT)] } }] },
  ],
});

let server: grpc.Server;
let tcpBackend: net.Server;
let env: Awaited<ReturnType<typeof startProxy>>;
let echo: Awaited<ReturnType<typeof echoBackend>>;
let httpPort = 0;
let tcpPort = 0;
let backendConnections = 0;
let authzPort = 0;

function filters(providers: ExtensionProvider[]) {
  const target = { workloadLabels: { app: 'api' }, namespace: 'foo', rootNamespace: 'istio-system', trustDomain: 'cluster.local', extensionProviders: providers };
  return translateAuthorization([CUSTOM], target);
}

function listeners(providers: ExtensionProvider[]): TypedAny[] {
  const authz = filters(providers);
  const httpFilters = [...authz.http, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }];
  const mk = (name: string, port: number, chainFilters: { name: string; typed_config: TypedAny }[]): TypedAny => ({
    '@type': TypeUrl.Listener,
    name,
    address: { socket_address: { address: '0.0.0.0', port_value: port } },
    filter_chains: [{ filters: chainFilters }],
  });
  return [
    mk('inbound-http', HTTP_PORT, [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm(INBOUND_HTTP, { http_filters: httpFilters }) }]),
    mk('inbound-tcp', TCP_PORT, [...authz.tcp, { name: 'envoy.filters.network.tcp_proxy', typed_config: tcpProxy(INBOUND_TCP) }]),
  ];
}

before(async () => {
  const pkg = loadSync('envoy/service/auth/v3/external_auth.proto', { includeDirs: [...protoIncludeDirs], keepCase: true, longs: String, enums: String, defaults: false });
  const service = pkg['envoy.service.auth.v3.Authorization'] as unknown as grpc.ServiceDefinition;
  server = new grpc.Server();
  server.addService(service, { Check: check });
  authzPort = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  echo = await echoBackend();
  tcpBackend = net.createServer((s) => {
    backendConnections++;
    s.pipe(s);
  });
  await new Promise<void>((r) => tcpBackend.listen(0, '127.0.0.1', r));
  env = await startProxy({ metadata: { NAMESPACE: 'foo', WORKLOAD_NAME: 'api', LABELS: { app: 'api' } } });
  push(env.proxy, [
    cluster(AUTHZ, { http2: true }),
    cla(AUTHZ, [{ port: authzPort }]),
    cluster(INBOUND_HTTP),
    cla(INBOUND_HTTP, [{ port: echo.port }]),
    cluster(INBOUND_TCP),
    cla(INBOUND_TCP, [{ port: (tcpBackend.address() as net.AddressInfo).port }]),
    routeConfig(INBOUND_HTTP, [{ domains: ['*'], routes: [{ prefix: '/', cluster: INBOUND_HTTP }] }]),
    ...listeners([provider]),
  ]);
  httpPort = await env.port('inbound-http');
  tcpPort = await env.port('inbound-tcp');
});

after(async () => {
  await env.close();
  echo.server.close();
  tcpBackend.close();
  server.forceShutdown();
});

/** Writes `ping`, returns what came back before the connection closed (echo backend) or '' when refused. */
function tcpRoundTrip(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => s.destroy(), 5000);
    s.on('data', (c) => {
      got += c.toString();
      if (got === 'ping') s.end();
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    s.write('ping');
  });
}

test('translation: gRPC provider → ext_authz with envoy_grpc on HTTP and the network filter on TCP, valid Envoy config', () => {
  const f = filters([provider]);
  assert.deepEqual(
    f.http.map((x) => x.name),
    ['envoy.filters.http.rbac', 'envoy.filters.http.ext_authz'],
  );
  assert.deepEqual(
    f.tcp.map((x) => x.name),
    ['envoy.filters.network.rbac', 'envoy.filters.network.ext_authz'],
  );
  const net = f.tcp[1]!.typed_config;
  assert.deepEqual(net['grpc_service'], { envoy_grpc: { cluster_name: AUTHZ, authority: 'outbound_.9000_._.authz.foo.svc.cluster.local' }, timeout: { seconds: '5' } });
  for (const x of [...f.http, ...f.tcp]) canonicalize(x.typed_config['@type'], x.typed_config);
  // An HTTP provider does not apply to TCP (as in Istio): no network ext_authz.
  const httpOnly = filters([{ name: 'grpc-authz', envoyExtAuthzHttp: { service: 'authz.foo.svc.cluster.local', port: 8000 } }]);
  assert.deepEqual(httpOnly.tcp, []);
});

test('HTTP allow: OkHttpResponse headers are set, appended and removed upstream; response headers added downstream', async () => {
  checks.length = 0;
  const r = await request(httpPort, '/secure/data?q=1', { headers: { 'x-user': 'alice', 'x-tag': 'one', 'x-remove-me': 'gone' } });
  assert.equal(r.status, 200);
  const seen = JSON.parse(r.body) as { headers: Record<string, string> };
  assert.equal(seen.headers['x-authz-user'], 'alice');
  assert.equal(seen.headers['x-tag'], 'one, two');
  assert.equal(seen.headers['x-remove-me'], undefined);
  assert.equal(r.headers['x-authz-note'], 'checked');
  assert.equal(checks.length, 1);
  const http = checks[0]!.attributes?.request?.http;
  assert.equal(http?.path, '/secure/data?q=1');
  assert.equal(http?.headers?.['x-user'], 'alice');
  assert.equal(http?.headers?.[':method'], 'GET');
});

test('HTTP deny: DeniedHttpResponse status, body and headers reach the client', async () => {
  const r = await request(httpPort, '/secure/data', { headers: { 'x-user': 'mallory' } });
  assert.equal(r.status, 401);
  assert.equal(r.body, 'no entry for mallory');
  assert.equal(r.headers['x-reason'], 'not alice');
});

test('HTTP: requests no CUSTOM rule matches are never checked', async () => {
  checks.length = 0;
  const r = await request(httpPort, '/public', { headers: { 'x-user': 'mallory' } });
  assert.equal(r.status, 200);
  assert.equal(checks.length, 0);
});

test('TCP: a check per connection with the peers only; OK splices, a denial closes before any byte reaches the backend', async () => {
  checks.length = 0;
  tcpAllowed = true;
  assert.equal(await tcpRoundTrip(tcpPort), 'ping');
  assert.equal(checks.length, 1);
  assert.equal(checks[0]!.attributes?.request, undefined);
  assert.equal(checks[0]!.attributes?.source?.address?.socket_address?.address, '127.0.0.1');
  tcpAllowed = false;
  const before = backendConnections;
  assert.equal(await tcpRoundTrip(tcpPort), '');
  assert.equal(checks.length, 2);
  assert.equal(backendConnections, before, 'a denied connection never reaches the backend');
});

test('errors: a gRPC error status denies (403 on HTTP, closed on TCP) unless failOpen', async () => {
  failWith = grpc.status.UNAVAILABLE;
  try {
    const r = await request(httpPort, '/secure/x', { headers: { 'x-user': 'alice' } });
    assert.equal(r.status, 403);
    assert.equal(await tcpRoundTrip(tcpPort), '');
    push(env.proxy, listeners([{ ...provider, envoyExtAuthzGrpc: { ...provider.envoyExtAuthzGrpc!, failOpen: true, statusOnError: '503' } }]), 'v2');
    tcpAllowed = true;
    assert.equal((await request(httpPort, '/secure/x', { headers: { 'x-user': 'mallory' } })).status, 200);
    assert.equal(await tcpRoundTrip(tcpPort), 'ping');
  } finally {
    failWith = undefined;
  }
});

test("a check after the provider's endpoint moved goes to the new one, not the session kept from before", async () => {
  const pkg = loadSync('envoy/service/auth/v3/external_auth.proto', { includeDirs: [...protoIncludeDirs], keepCase: true, longs: String, enums: String, defaults: false });
  const moved: Check[] = [];
  const second = new grpc.Server();
  second.addService(pkg['envoy.service.auth.v3.Authorization'] as unknown as grpc.ServiceDefinition, {
    Check: (call: grpc.ServerUnaryCall<Check, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      moved.push(call.request);
      cb(null, { status: { code: 0 } });
    },
  });
  const port = await new Promise<number>((resolve, reject) => second.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  try {
    checks.length = 0;
    assert.equal((await request(httpPort, '/secure/a', { headers: { 'x-user': 'alice' } })).status, 200);
    assert.equal(checks.length, 1, 'the first provider answers, over a session the filter keeps');
    // EDS is state of the world: the other clusters keep their endpoints.
    push(env.proxy, [cla(AUTHZ, [{ port }]), cla(INBOUND_HTTP, [{ port: echo.port }]), cla(INBOUND_TCP, [{ port: (tcpBackend.address() as net.AddressInfo).port }])], 'v3');
    assert.equal((await request(httpPort, '/secure/b', { headers: { 'x-user': 'alice' } })).status, 200);
    assert.equal(moved.length, 1, 'the moved provider answers');
    assert.equal(checks.length, 1, 'the old one is asked nothing more');
  } finally {
    second.forceShutdown();
  }
});
