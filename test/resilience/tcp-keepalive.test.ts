// DestinationRule tcpKeepalive → Envoy's upstream_connection_options.tcp_keepalive → TCP keep-alive on
// the proxy's upstream sockets (HTTP/1.1 pool and h2c), with the first probe after keepalive_time.
// Node cannot set the probe interval or count: the spy sees the only two values Node can set.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { cla, cluster, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { FaultUpstream } from './fault-upstream.ts';

const calls: { enable: boolean | undefined; delay: number | undefined }[] = [];
const original = net.Socket.prototype.setKeepAlive;

before(() => {
  // A spy on the real socket method: the sockets, connections and kernel option are all real.
  net.Socket.prototype.setKeepAlive = function (this: net.Socket, enable?: boolean, delay?: number) {
    calls.push({ enable, delay });
    return original.call(this, enable, delay);
  } as typeof original;
});

after(() => {
  net.Socket.prototype.setKeepAlive = original;
});

const keepalive = (seconds: number) => ({ upstream_connection_options: { tcp_keepalive: { keepalive_time: { value: seconds }, keepalive_probes: { value: 3 } } } });

test('tcp_keepalive: HTTP/1.1 and h2c upstream sockets probe after keepalive_time', { timeout: 20_000 }, async () => {
  const h1 = new FaultUpstream();
  await h1.listen();
  const h2 = http2.createServer((_req, res) => res.end('h2'));
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  const h2port = (h2.address() as net.AddressInfo).port;
  const p = await startProxy();
  try {
    push(p.proxy, [
      { ...cluster('h1', { lb: 'ROUND_ROBIN' }), ...keepalive(7) },
      cla('h1', [{ port: h1.port }]),
      { ...cluster('h2', { lb: 'ROUND_ROBIN', http2: true }), ...keepalive(11) },
      cla('h2', [{ port: h2port }]),
      listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
      routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/h2', cluster: 'h2' }, { prefix: '/', cluster: 'h1' }] }]),
    ]);
    const port = await p.port('0.0.0.0_8080');
    assert.equal((await request(port, '/')).status, 200);
    assert.equal((await request(port, '/h2')).body, 'h2');
    assert.ok(calls.some((c) => c.enable === true && c.delay === 7_000), `HTTP/1.1 keep-alive after 7 s: ${JSON.stringify(calls)}`);
    assert.ok(calls.some((c) => c.enable === true && c.delay === 11_000), `h2c keep-alive after 11 s: ${JSON.stringify(calls)}`);
  } finally {
    await p.close();
    await h1.close();
    h2.close();
  }
});
