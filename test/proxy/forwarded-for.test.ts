// The edge's client address through a real gateway proxy: with `numTrustedProxies: 1` the client is the
// XFF entry the trusted proxy in front wrote, and a DENY on remoteIpBlocks catches it; with no trusted
// proxies a client-written XFF changes nothing. The upstream sees the peer appended to XFF.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AuthorizationPolicy } from '../../src/config/resource.ts';
import { translateAuthorization } from '../../src/translate/authorization.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from './harness.ts';

const denyBlocked: AuthorizationPolicy = {
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name: 'block', namespace: 'istio-system', labels: {}, annotations: {} },
  spec: { action: 'DENY', rules: [{ from: [{ source: { remoteIpBlocks: ['6.6.6.0/24'] } }] }] },
};

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;

before(async () => {
  backend = await echoBackend();
  env = await startProxy();
  const rbac = translateAuthorization([denyBlocked], { workloadLabels: { istio: 'ingressgateway' }, namespace: 'istio-system', rootNamespace: 'istio-system', trustDomain: 'cluster.local' }).http;
  const filters = [...rbac, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }];
  const edge = (hops: number) => hcm('r', { use_remote_address: { value: true }, ...(hops ? { xff_num_trusted_hops: hops } : {}), http_filters: filters });
  push(env.proxy, [
    cluster('outbound|80||echo'),
    cla('outbound|80||echo', [{ port: backend.port }]),
    listener('trusting', 8081, [{ filter: edge(1) }]),
    listener('untrusting', 8082, [{ filter: edge(0) }]),
    // Dual-stack: an IPv4 client's socket address is `::ffff:127.0.0.1`.
    listener('dual', 8083, [{ filter: edge(1) }], { address: { socket_address: { address: '::', port_value: 8083 } } }),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'outbound|80||echo' }] }]),
  ]);
});

after(async () => {
  await env.close();
  backend.server.close();
});

test('one trusted proxy in front: the client is its XFF entry, and remoteIpBlocks applies to it', async () => {
  const port = await env.port('trusting');
  const denied = await request(port, '/', { host: 'shop', headers: { 'x-forwarded-for': '6.6.6.7' } });
  assert.equal(denied.status, 403);
  const forged = await request(port, '/', { host: 'shop', headers: { 'x-forwarded-for': '6.6.6.7, 1.2.3.4' } });
  assert.equal(forged.status, 200, 'an address left of the trusted hop was written by the client');
  const seen = JSON.parse(forged.body) as { headers: Record<string, string> };
  assert.equal(seen.headers['x-forwarded-for'], '6.6.6.7, 1.2.3.4, 127.0.0.1');
});

test('no trusted proxies: a client-written XFF never decides who the client is', async () => {
  const port = await env.port('untrusting');
  const res = await request(port, '/', { host: 'shop', headers: { 'x-forwarded-for': '6.6.6.7' } });
  assert.equal(res.status, 200);
});

test('a dual-stack gateway writes its IPv4 peer into XFF as IPv4, and keeps the entries it got as written', async () => {
  const port = await env.port('dual');
  const res = await request(port, '/', { host: 'shop', headers: { 'x-forwarded-for': '::ffff:1.2.3.4' } });
  assert.equal(res.status, 200);
  const seen = JSON.parse(res.body) as { headers: Record<string, string> };
  // Envoy writes `127.0.0.1`, the peer as it reports it, not the socket's `::ffff:127.0.0.1`.
  assert.equal(seen.headers['x-forwarded-for'], '::ffff:1.2.3.4, 127.0.0.1');
});
