// What reads the authority after routing reads it as the client sent it. Envoy lower-cases only a copy of
// Host, to pick the virtual host (RouteMatcher::findVirtualHost); everything else reads the header itself
// (getHostValue()): the access log's %REQ(:AUTHORITY)%, a route's `:authority` header matcher, RBAC's
// `request.headers[:authority]` (Istio's HeaderMatcher, case-sensitive), ext_authz's check request
// (CheckRequestUtils::setHttpRequest: http.host and the :authority header, which the HTTP service's
// RawHttpClientImpl sends as Host) and a redirect's Location (Utility::newUri → processRequestHost).
// Istio's `hosts` still compare case-insensitively: its HostMatcher sets ignore_case.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { ExtensionProvider } from '../../src/config/types/other.ts';
import { translateAuthorization } from '../../src/translate/authorization.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { protoIncludeDirs } from '../../src/xds/protos.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { policy } from '../authz/simulate.ts';
import { until } from '../resilience/fake-clock.ts';
import { telemetryConfig } from '../telemetry/drive-filter.ts';
import { cla, cluster, echoBackend, hcm, listener, push, rawExchange, startProxy } from './harness.ts';

const HOST = 'Shop.Example.COM';
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } };
const GRPC_AUTHZ = 'outbound|9000||authz.foo.svc.cluster.local';
const HTTP_AUTHZ = 'outbound|8000||authz-http.foo.svc.cluster.local';
const target = { workloadLabels: { app: 'api' }, namespace: 'foo', rootNamespace: 'istio-system', trustDomain: 'cluster.local' };

const routes = {
  '@type': TypeUrl.RouteConfiguration,
  name: 'r',
  virtual_hosts: [
    {
      name: 'shop',
      domains: ['shop.example.com', 'shop.example.com:*', 'blocked.example.com', 'secret.example.com'],
      routes: [
        { match: { prefix: '/match', headers: [{ name: ':authority', exact_match: HOST }] }, direct_response: { status: 200, body: { inline_string: 'as sent' } } },
        { match: { prefix: '/match' }, direct_response: { status: 200, body: { inline_string: 'not as sent' } } },
        { match: { prefix: '/redirect' }, redirect: { path_redirect: '/moved' } },
        { match: { prefix: '/' }, route: { cluster: 'echo' } },
      ],
    },
  ],
};

let env: Awaited<ReturnType<typeof startProxy>>;
let echo: Awaited<ReturnType<typeof echoBackend>>;
let grpcServer: grpc.Server;
let httpAuthz: http.Server;
let dir = '';
let logFile = '';
/** The Host each HTTP check arrived with, and each gRPC check's http.host and :authority header. */
const httpChecks: (string | undefined)[] = [];
const grpcChecks: { host: string | undefined; authority: string | undefined }[] = [];

type Check = { attributes?: { request?: { http?: { host?: string; headers?: Record<string, string> } } } };

function authzListener(name: string, port: number, provider: ExtensionProvider): TypedAny {
  const custom = policy('ext', 'foo', { action: 'CUSTOM', provider: { name: 'authz' }, rules: [{ to: [{ operation: { paths: ['/checked'] } }] }] });
  const filters = [...translateAuthorization([custom], { ...target, extensionProviders: [provider] }).http, ROUTER];
  return listener(name, port, [{ filter: hcm('r', { http_filters: filters }) }]);
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'or-authority-'));
  logFile = path.join(dir, 'access.log');
  echo = await echoBackend();
  const pkg = loadSync('envoy/service/auth/v3/external_auth.proto', { includeDirs: [...protoIncludeDirs], keepCase: true, longs: String, enums: String, defaults: false });
  grpcServer = new grpc.Server();
  grpcServer.addService(pkg['envoy.service.auth.v3.Authorization'] as unknown as grpc.ServiceDefinition, {
    Check: (call: grpc.ServerUnaryCall<Check, unknown>, answer: grpc.sendUnaryData<unknown>) => {
      const h = call.request.attributes?.request?.http;
      grpcChecks.push({ host: h?.host, authority: h?.headers?.[':authority'] });
      answer(null, { status: { code: 0 } });
    },
  });
  const grpcPort = await new Promise<number>((resolve, reject) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  httpAuthz = http.createServer((req, res) => {
    httpChecks.push(req.headers.host);
    res.end();
  });
  await new Promise<void>((r) => httpAuthz.listen(0, '127.0.0.1', r));
  env = await startProxy({ metadata: { NAMESPACE: 'foo', WORKLOAD_NAME: 'api', LABELS: { app: 'api' } } });
  const stats = { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'destination', workload: { workload: 'api', namespace: 'foo', labels: {} }, metrics: false, access_log: { path: logFile, encoding: 'TEXT', format: '%REQ(:PATH)% %REQ(:AUTHORITY)%\n' } }) };
  const deny = policy('deny', 'foo', {
    action: 'DENY',
    rules: [{ when: [{ key: 'request.headers[:authority]', values: ['Blocked.Example.COM'] }] }, { to: [{ operation: { hosts: ['secret.example.com'] } }] }],
  });
  push(env.proxy, [
    cluster('echo'),
    cla('echo', [{ port: echo.port }]),
    cluster(GRPC_AUTHZ, { http2: true }),
    cla(GRPC_AUTHZ, [{ port: grpcPort }]),
    cluster(HTTP_AUTHZ),
    cla(HTTP_AUTHZ, [{ port: (httpAuthz.address() as net.AddressInfo).port }]),
    routes as never,
    listener('logged', 18001, [{ filter: hcm('r', { http_filters: [stats, ROUTER] }) }]),
    listener('rbac', 18002, [{ filter: hcm('r', { http_filters: [...translateAuthorization([deny], target).http, ROUTER] }) }]),
    authzListener('ext-http', 18003, { name: 'authz', envoyExtAuthzHttp: { service: 'authz-http.foo.svc.cluster.local', port: 8000 } }),
    authzListener('ext-grpc', 18004, { name: 'authz', envoyExtAuthzGrpc: { service: 'authz.foo.svc.cluster.local', port: 9000 } }),
  ]);
});

after(async () => {
  await env.close();
  echo.server.close();
  httpAuthz.close();
  grpcServer.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

/** An HTTP/1.1 GET with this Host; the response as it came. */
async function get(name: string, target: string, host = HOST): Promise<{ status: number; head: string; body: string }> {
  const out = await rawExchange(await env.port(name), `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  const end = out.indexOf('\r\n\r\n');
  return { status: Number(out.slice(9, 12)), head: out.slice(0, end), body: out.slice(end + 4) };
}

test("the access log's %REQ(:AUTHORITY)% is the Host as sent", async () => {
  assert.equal((await get('logged', '/logged')).status, 200);
  const logged = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').filter((l) => l.startsWith('/logged ')) : []);
  await until(() => logged().length === 1, 'the access log line');
  assert.deepEqual(logged(), [`/logged ${HOST}`]);
});

test("a route's :authority header matcher compares the Host as sent", async () => {
  assert.equal((await get('logged', '/match')).body, 'as sent');
  assert.equal((await get('logged', '/match', 'shop.example.com')).body, 'not as sent');
});

test("a redirect's Location keeps the Host as sent", async () => {
  const res = await get('logged', '/redirect');
  assert.equal(res.status, 301);
  assert.equal(/\r\nlocation: ([^\r]*)/i.exec(res.head)?.[1], `http://${HOST}/moved`);
});

test("RBAC: request.headers[:authority] matches the Host as sent, case-sensitively; hosts stay case-insensitive", async () => {
  assert.equal((await get('rbac', '/x', 'Blocked.Example.COM')).status, 403);
  assert.equal((await get('rbac', '/x', 'blocked.example.com')).status, 200, 'Istio writes the condition as an exact, case-sensitive matcher');
  assert.equal((await get('rbac', '/x', 'SECRET.Example.com')).status, 403);
  assert.equal((await get('rbac', '/x', 'secret.example.com.')).status, 403, 'a trailing dot does not pass hosts');
});

test('ext_authz: the HTTP check is sent the Host as sent', async () => {
  assert.equal((await get('ext-http', '/checked')).status, 200);
  assert.deepEqual(httpChecks, [HOST]);
});

test("ext_authz: the gRPC check's http.host and :authority are the Host as sent", async () => {
  assert.equal((await get('ext-grpc', '/checked')).status, 200);
  assert.deepEqual(grpcChecks, [{ host: HOST, authority: HOST }]);
});
