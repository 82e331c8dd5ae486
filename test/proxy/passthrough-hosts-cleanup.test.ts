// An ORIGINAL_DST cluster (Istio's PassthroughCluster) makes a host, and here an upstream pool, for each
// address its callers name: an app that calls many addresses (or a client that names them) must not
// grow the proxy without end. Envoy removes the hosts of such a cluster that went unused for its
// `cleanup_interval` (default 5 s), draining their connection pools; the proxy does the same, on the
// clock the test drives (the router's timers' clock, which clusters read).
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { ConnectionInfo } from '../../src/proxy/http/stream.ts';
import type { TcpChain } from '../../src/proxy/listener/compile-listener.ts';
import { serveTcp } from '../../src/proxy/listener/tcp-proxy.ts';
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

test('TCP passthrough connections run the sweep too: the pools HTTP left are forgotten when only TCP uses the cluster', async () => {
  const passthrough = env.proxy.clusters.get('PassthroughCluster');
  assert.ok(passthrough);
  for (let i = 100; i < 120; i++) assert.equal(await viaProxy(`127.0.0.${i}`), 200);
  while (passthrough.connections() > 0) await new Promise((r) => setImmediate(r));
  const held = passthrough.upstreamPools;
  assert.ok(held >= 20, `${held} pools after HTTP`);
  // Past the interval and the connect timeout, a tcp_proxy connection to the PassthroughCluster (its
  // original destination the outside server) is the cluster's only use.
  clock += 10_001;
  const chain: TcpChain = { kind: 'tcp', statPrefix: 'passthrough', pickCluster: () => 'PassthroughCluster', authz: [] };
  const timers = { set: (fn: () => void, ms: number) => setTimeout(fn, ms).unref(), clear: (h: unknown) => clearTimeout(h as NodeJS.Timeout), now: () => clock };
  const front = net.createServer((s) => {
    const connection: ConnectionInfo = { remoteAddress: '127.0.0.1', remotePort: s.remotePort ?? 0, localAddress: '127.0.0.1', localPort: outsidePort, tls: false };
    serveTcp(env.proxy.clusters, chain, s, connection, Math.random, undefined, timers);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  const client = net.connect((front.address() as net.AddressInfo).port, '127.0.0.1');
  let got = '';
  client.on('data', (c: Buffer) => {
    got += c.toString();
  });
  client.write('GET /tcp HTTP/1.1\r\nhost: x\r\n\r\n');
  await new Promise<void>((r) => client.once('close', () => r()));
  front.close();
  assert.match(got, /outside saw \/tcp/, 'spliced to the original destination');
  assert.ok(passthrough.upstreamPools < held, `${passthrough.upstreamPools} of ${held} pools left after TCP use`);
  assert.equal(passthrough.upstreamPools, 0, 'every unused HTTP pool forgotten');
});
