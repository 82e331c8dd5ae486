// The service proxy's own plumbing, on real sockets: a name that is no Service's is reached as the pod
// itself would reach it (here, a server on loopback), and what a client leaves goes with it.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { test } from 'node:test';
import { buildSnapshot } from '../../model/snapshot.ts';
import { PlaintextTunnels } from './plaintext-tunnel.ts';
import { ServiceEndpoints } from './service-endpoints.ts';
import { ServiceProxy } from './service-proxy.ts';

test('a client that leaves a streamed answer takes its upstream connection with it', async () => {
  const upstreamSockets: net.Socket[] = [];
  const upstream = http.createServer((req, res) => {
    upstreamSockets.push(req.socket);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    // An answer that never ends by itself: one event, then silence until the connection goes.
    res.write('data: x\n\n');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as net.AddressInfo).port;
  const snapshot = buildSnapshot([], [], 'v1');
  const proxy = new ServiceProxy({ endpoints: new ServiceEndpoints(() => snapshot), tunnels: new PlaintextTunnels(() => undefined) });
  const url = new URL(await proxy.urlFor('default'));
  try {
    for (let i = 0; i < 3; i++) {
      const req = http.request({ host: url.hostname, port: url.port, path: `http://127.0.0.1:${port}/events`, agent: false });
      req.on('error', () => {});
      req.end();
      const [res] = (await once(req, 'response')) as [http.IncomingMessage];
      await once(res, 'data');
      req.destroy();
    }
    assert.equal(upstreamSockets.length, 3);
    // Each upstream connection closes once its client has left (bounded: a leak fails here, by name).
    const signal = AbortSignal.timeout(10_000);
    await Promise.all(upstreamSockets.map((s) => (s.destroyed ? undefined : once(s, 'close', { signal }).catch(() => assert.fail('an upstream connection outlived its client')))));
  } finally {
    upstream.closeAllConnections();
    upstream.close();
    await proxy.close();
  }
});
