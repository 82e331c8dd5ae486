// The Server header and the router's own x-envoy-* headers, as the HCM and router configs Istio
// writes ask: server_name with OVERWRITE (the default) replaces the app's, APPEND_IF_ABSENT keeps it,
// PASS_THROUGH neither adds nor replaces; the proxy's own replies carry it too. suppress_envoy_headers
// (meshConfig proxyHeaders.envoyDebugHeaders disabled) drops x-envoy-upstream-service-time, and
// generate_request_id false (proxyHeaders.requestId disabled) sends no made-up x-request-id.
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
const ports: Record<string, number> = {};

function routes(): TypedAny {
  return {
    '@type': TypeUrl.RouteConfiguration,
    name: 'r',
    virtual_hosts: [{ name: 'api', domains: ['api'], routes: [{ name: 'all', match: { prefix: '/' }, route: { cluster: 'echo', timeout: { seconds: 0 } } }] }],
  };
}

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.url === '/anonymous') res.removeHeader('date');
  else res.setHeader('server', 'podinfo');
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ headers: req.headers }));
}

const quiet = { '@type': TypeUrl.HttpConnectionManager, stat_prefix: 'quiet', rds: { route_config_name: 'r', config_source: { ads: {} } }, http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router, suppress_envoy_headers: true } }], generate_request_id: { value: false } };

before(async () => {
  backend = await echoBackend(handler);
  env = await startProxy();
  push(env.proxy, [
    cluster('echo'),
    cla('echo', [{ port: backend.port }]),
    listener('outbound', 15001, [{ filter: hcm('r') }]),
    listener('gateway', 8080, [{ filter: hcm('r', { server_name: 'istio-envoy' }) }]),
    listener('append', 8081, [{ filter: hcm('r', { server_name: 'istio-envoy', server_header_transformation: 'APPEND_IF_ABSENT' }) }]),
    listener('pass', 8082, [{ filter: hcm('r', { server_header_transformation: 'PASS_THROUGH' }) }]),
    listener('quiet', 8083, [{ filter: quiet }]),
    routes(),
  ]);
  for (const name of ['outbound', 'gateway', 'append', 'pass', 'quiet']) ports[name] = await env.port(name);
});

after(async () => {
  await env.close();
  backend.server.closeAllConnections();
  backend.server.close();
});

test("OVERWRITE (Envoy's default) replaces the app's Server header: `envoy` unnamed, server_name when named", async () => {
  const outbound = await request(ports['outbound'] as number, '/', { host: 'api' });
  assert.equal(outbound.status, 200);
  assert.equal(outbound.headers['server'], 'envoy');
  const gateway = await request(ports['gateway'] as number, '/', { host: 'api' });
  assert.equal(gateway.headers['server'], 'istio-envoy');
});

test('APPEND_IF_ABSENT keeps the Server header the app sent and adds its own where there is none', async () => {
  assert.equal((await request(ports['append'] as number, '/', { host: 'api' })).headers['server'], 'podinfo');
  assert.equal((await request(ports['append'] as number, '/anonymous', { host: 'api' })).headers['server'], 'istio-envoy');
});

test('PASS_THROUGH passes the app\'s Server header and adds none', async () => {
  assert.equal((await request(ports['pass'] as number, '/', { host: 'api' })).headers['server'], 'podinfo');
  assert.equal((await request(ports['pass'] as number, '/anonymous', { host: 'api' })).headers['server'], undefined);
});

test("the proxy's own replies (404 NR) carry the Server header too", async () => {
  const r = await request(ports['gateway'] as number, '/', { host: 'nowhere' });
  assert.equal(r.status, 404);
  assert.equal(r.headers['server'], 'istio-envoy');
});

test('suppress_envoy_headers drops x-envoy-upstream-service-time; generate_request_id false makes up no x-request-id', async () => {
  const plain = await request(ports['outbound'] as number, '/', { host: 'api' });
  assert.match(String(plain.headers['x-envoy-upstream-service-time']), /^\d+$/);
  assert.match(String((JSON.parse(plain.body) as { headers: Record<string, string> }).headers['x-request-id']), /^[0-9a-f-]{36}$/);
  const quietReply = await request(ports['quiet'] as number, '/', { host: 'api' });
  assert.equal(quietReply.status, 200);
  assert.equal(quietReply.headers['x-envoy-upstream-service-time'], undefined);
  assert.equal((JSON.parse(quietReply.body) as { headers: Record<string, string> }).headers['x-request-id'], undefined);
  // A client's own id still travels.
  const given = await request(ports['quiet'] as number, '/', { host: 'api', headers: { 'x-request-id': 'abc' } });
  assert.equal((JSON.parse(given.body) as { headers: Record<string, string> }).headers['x-request-id'], 'abc');
});
