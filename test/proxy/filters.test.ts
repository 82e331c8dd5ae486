// The filter chain in the connection manager with Outrigger's real filters: a fault abort answers
// with its status (or gRPC status) and the FI flag before the router; the router still runs when the
// fault does not.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;

before(async () => {
  backend = await echoBackend();
  env = await startProxy();
  const fault = {
    name: 'envoy.filters.http.fault',
    typed_config: { '@type': TypeUrl.HttpFault, abort: { http_status: 418, percentage: { numerator: 100, denominator: 'HUNDRED' } }, headers: [{ name: 'x-chaos', present_match: true }] },
  };
  const router = { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } };
  const grpcFault = {
    name: 'envoy.filters.http.fault',
    typed_config: { '@type': TypeUrl.HttpFault, abort: { grpc_status: 14, percentage: { numerator: 100, denominator: 'HUNDRED' } }, headers: [{ name: 'x-chaos', present_match: true }] },
  };
  push(env.proxy, [
    cluster('b'),
    cla('b', [{ port: backend.port }]),
    cluster('empty'),
    cla('empty', []),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { http_filters: [fault, router] }) }]),
    listener('0.0.0.0_9898', 9898, [{ filter: hcm('g', { http_filters: [grpcFault, router] }) }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'b' }] }]),
    routeConfig('g', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'empty' }] }]),
  ]);
});

after(async () => {
  await env.close();
  backend.server.close();
});

test('a fault abort answers before the router, with the FI flag', async () => {
  const port = await env.port('0.0.0.0_8080');
  const aborted = await request(port, '/', { host: 'x', headers: { 'x-chaos': '1' } });
  assert.equal(aborted.status, 418);
  assert.equal(aborted.headers['x-envoy-response-flags'], 'FI');
  const passed = await request(port, '/', { host: 'x' });
  assert.equal(passed.status, 200);
});

test("a gRPC abort answers 200 with the abort's grpc-status; gRPC local replies keep their message readable", async () => {
  const port = await env.port('0.0.0.0_9898');
  const grpc = { 'content-type': 'application/grpc', te: 'trailers' };
  const aborted = await request(port, '/pkg.Svc/Call', { host: 'x', method: 'POST', headers: { ...grpc, 'x-chaos': '1' } });
  assert.equal(aborted.status, 200);
  assert.equal(aborted.headers['grpc-status'], '14', 'UNAVAILABLE, as configured');
  assert.equal(aborted.headers['grpc-message'], 'fault filter abort');
  // No fault: no healthy upstream (503 UH) becomes UNAVAILABLE with Envoy's body as the message,
  // percent-encoded as gRPC does it (spaces stay).
  const uh = await request(port, '/pkg.Svc/Call', { host: 'x', method: 'POST', headers: grpc });
  assert.equal(uh.headers['grpc-status'], '14');
  assert.equal(uh.headers['grpc-message'], 'no healthy upstream');
});
