// A cluster idle timeout past 2^31-1 ms (DestinationRule connectionPool.http.idleTimeout: 720h) keeps
// upstream HTTP/1.1 connections for reuse. Node runs a setTimeout longer than that after 1 ms (and warns
// TimeoutOverflowWarning), so an unclamped park timer closed each parked connection at once.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import net from 'node:net';
import { cla, cluster, hcm, listener, push, request, routeConfig, startProxy } from './harness.ts';

// An app that sends no Keep-Alive hint (Node's own server sends `timeout=5`, which would bound the park).
let sockets = 0;
const server = net.createServer((s) => {
  sockets++;
  s.on('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
  s.on('error', () => {});
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const backend = { port: (server.address() as net.AddressInfo).port, server };
const p = await startProxy();
after(async () => {
  await p.close();
  backend.server.close();
});
push(p.proxy, [
  {
    ...cluster('app'),
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        common_http_protocol_options: { idle_timeout: { seconds: '2592000' } },
        explicit_http_config: { http_protocol_options: {} },
      },
    },
  },
  cla('app', [{ port: backend.port }]),
  listener('0.0.0.0_8080', 8080, [{ filter: hcm('r') }]),
  routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'app' }] }]),
]);
const port = await p.port('0.0.0.0_8080');

test('a 720h cluster idle timeout parks the upstream connection with a timer Node can hold, and reuses it', async () => {
  const overflows: string[] = [];
  const onWarning = (w: Error) => {
    if (w.name === 'TimeoutOverflowWarning') overflows.push(w.message);
  };
  process.on('warning', onWarning);
  try {
    for (const path of ['/a', '/b', '/c']) {
      assert.equal((await request(port, path)).status, 200, path);
      // The warning is emitted on the next tick after the timer is made.
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    process.off('warning', onWarning);
  }
  assert.deepEqual(overflows, [], 'no timer longer than Node holds');
  assert.equal(sockets, 1, `upstream connections opened: ${sockets}`);
});
