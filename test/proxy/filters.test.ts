// The filter chain in the connection manager with Outrigger's real filters: a fault abort answers
// with its status and the FI flag before the router; the router still runs when the fault does not.
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
  push(env.proxy, [
    cluster('b'),
    cla('b', [{ port: backend.port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { http_filters: [fault, router] }) }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'b' }] }]),
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
