// upstream_cx_total counts every connection a cluster's upstreams make, on HTTP/1.1 and HTTP/2 clusters
// alike (it was counted for TCP proxying only), beside upstream_cx_active.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from './harness.ts';

const h1 = await echoBackend();
const h2 = http2.createServer((_req, res) => res.end('ok'));
await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
const p = await startProxy();
after(async () => {
  await p.close();
  h1.server.close();
  h2.close();
});
push(p.proxy, [
  cluster('one'),
  cla('one', [{ port: h1.port }]),
  cluster('two', { http2: true }),
  cla('two', [{ port: (h2.address() as AddressInfo).port }]),
  listener('0.0.0.0_8080', 8080, [{ filter: hcm('r') }]),
  routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/h2', cluster: 'two' }, { prefix: '/', cluster: 'one' }] }]),
]);
const port = await p.port('0.0.0.0_8080');

async function counter(name: string, cluster: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${p.admin}/stats/prometheus`)).text();
  return Number(new RegExp(`^envoy_cluster_${name}\\{cluster_name="${cluster}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}

test('three requests in turn on one kept-alive connection count one connection, on HTTP/1.1 and HTTP/2 clusters', async () => {
  for (const path of ['/a', '/b', '/c', '/h2/a', '/h2/b', '/h2/c']) assert.equal((await request(port, path)).status, 200, path);
  assert.equal(await counter('upstream_cx_total', 'one'), 1);
  assert.equal(await counter('upstream_cx_total', 'two'), 1);
  assert.equal(await counter('upstream_cx_active', 'one'), 1);
});
