// An ORIGINAL_DST cluster (Istio's PassthroughCluster) makes a host, and here an upstream pool, for each
// address its callers name: an app that calls many addresses (or a client that names them) must not
// grow the proxy without end. Envoy removes the hosts of such a cluster that went unused for its
// `cleanup_interval` (default 5 s), draining their connection pools; the proxy does the same, on the
// clock the test drives (the router's timers' clock, which clusters read).
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import { push, startProxy } from './harness.ts';

const mesh = `apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, ports: [{name: http, port: 9898}]}
`;
const view: ProxyView = { id: 'sidecar~127.0.0.1~web-0.shop~shop.svc.cluster.local', role: 'sidecar', namespace: 'shop', workloadName: 'web', serviceAccount: 'web', labels: { app: 'web' }, ip: '127.0.0.1', appPorts: {} };

let outside: http.Server;
let outsidePort: number;
let env: Awaited<ReturnType<typeof startProxy>>;
let clock = 1_000_000;

before(async () => {
  // Each response closes its connection: no pool keeps an idle socket (one that does is kept, as a
  // pool Envoy drains keeps its connections until they close).
  outside = http.createServer((req, res) => {
    res.setHeader('connection', 'close');
    res.end(`outside saw ${req.url}`);
  });
  await new Promise<void>((r) => outside.listen(0, '0.0.0.0', r));
  outsidePort = (outside.address() as net.AddressInfo).port;
  env = await startProxy({ nodeId: view.id, metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'web', LABELS: { app: 'web' } }, timers: { set: (fn: () => void, ms: number) => setTimeout(fn, ms).unref(), clear: (h: unknown) => clearTimeout(h as NodeJS.Timeout), now: () => clock } });
  push(env.proxy, [...buildProxyResources(buildSnapshot(loadText(mesh).resources, [], '1'), view).values()].flatMap((m) => [...m.values()]));
});

after(async () => {
  await env.close();
  outside.closeAllConnections();
  outside.close();
});

/** One request through the forward proxy (HTTP_PROXY) to `address`: the passthrough chain forwards it there. */
async function viaProxy(address: string): Promise<number> {
  const port = await env.port('virtualOutbound');
  return new Promise((resolve, reject) => {
    http
      .request({ host: '127.0.0.1', port, path: `http://${address}:${outsidePort}/page`, headers: { host: `${address}:${outsidePort}`, connection: 'close' }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject)
      .end();
  });
}

test("a passthrough cluster forgets the addresses unused for its cleanup interval (Envoy's ORIGINAL_DST cleanup_interval, 5 s)", async () => {
  const passthrough = env.proxy.clusters.get('PassthroughCluster');
  assert.ok(passthrough, 'the sidecar has a PassthroughCluster');
  // 127.0.0.0/8 is loopback: 60 addresses, one server.
  for (let i = 1; i <= 60; i++) assert.equal(await viaProxy(`127.0.0.${i}`), 200);
  assert.equal(passthrough.upstreamPools, 60, 'one pool per address named');
  // Each connection closes after its response: wait until no pool holds a socket.
  while (passthrough.connections() > 0) await new Promise((r) => setImmediate(r));
  // Two intervals later (and past the cluster's 10 s connect timeout), only the address used since is kept.
  clock += 5_000;
  assert.equal(await viaProxy('127.0.0.200'), 200);
  clock += 5_000;
  assert.equal(await viaProxy('127.0.0.200'), 200);
  assert.ok(passthrough.upstreamPools <= 2, `${passthrough.upstreamPools} pools held`);
});
