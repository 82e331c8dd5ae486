// A listener's HTTP/1.1 connections are tracked by its codecs: drain closes the idle ones at once.
// (When the codec was Node's never-listening server, its tracking was off and drain closed nothing.)
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import type { ClusterManager } from '../cluster/cluster-manager.ts';
import type { HcmRuntime } from '../http/connection-manager.ts';
import { compilePathNormalizer } from '../http/normalize-path.ts';
import type { HttpChain } from './compile-listener.ts';
import { HttpServers } from './http-servers.ts';

const normalize = compilePathNormalizer('BASE');
const rt: HcmRuntime = { clusters: {} as ClusterManager, routeTable: () => undefined, normalize, random: Math.random, now: () => performance.now(), draining: () => false };
const chain: HttpChain = { kind: 'http', statPrefix: 'test', filters: [], websocket: false, normalize, useRemoteAddress: false, xffTrustedHops: 0, serverHeader: null, suppressEnvoyHeaders: false, generateRequestId: true };
const connection = { remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 2, tls: false };

test('drain closes an idle keep-alive HTTP/1.1 connection the listener handed over', async () => {
  const servers = new HttpServers(rt);
  const outer = net.createServer((s) => servers.serve(s, { connection, chain }));
  await new Promise<void>((r) => outer.listen(0, '127.0.0.1', r));
  const client = net.connect((outer.address() as net.AddressInfo).port, '127.0.0.1');
  let got = '';
  const answered = new Promise<void>((resolve) => {
    client.on('data', (d) => {
      got += d.toString();
      if (got.includes('\r\n\r\n')) resolve();
    });
  });
  client.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
  await answered;
  assert.match(got, /^HTTP\/1.1 404 /, 'no route: the request was served');
  const closed = new Promise<void>((r) => client.on('close', () => r()));
  servers.drain();
  await closed;
  servers.destroy();
  outer.close();
});
