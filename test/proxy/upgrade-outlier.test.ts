// A WebSocket upgrade's try counts for outlier detection as a request's does (Envoy's router reports it):
// a connect failure, and the status the upstream answers.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { cla, closedPort, cluster, hcm, listener, push, rawExchange, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: http.Server;

const ejectAt = (n: number) => ({ outlier_detection: { consecutive_5xx: { value: n }, max_ejection_percent: { value: 100 } } });

before(async () => {
  // Refuses every upgrade with a 503.
  backend = http.createServer((_q, r) => r.end('plain'));
  backend.on('upgrade', (_req, sock) => sock.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n'));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  env = await startProxy();
  push(env.proxy, [
    { ...cluster('dead'), ...ejectAt(2) },
    { ...cluster('refusing'), ...ejectAt(2) },
    cla('dead', [{ port: await closedPort() }]),
    cla('refusing', [{ port: (backend.address() as AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { upgrade_configs: [{ upgrade_type: 'websocket' }] }) }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/dead', cluster: 'dead' }, { prefix: '/', cluster: 'refusing' }] }]),
  ]);
});

after(async () => {
  await env.close();
  backend.close();
});

const upgrade = (path: string) => `GET ${path} HTTP/1.1\r\nHost: chat\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;

test('upgrades whose connect fails eject the endpoint', async () => {
  const port = await env.port('0.0.0.0_8080');
  for (let i = 0; i < 2; i++) assert.match((await rawExchange(port, upgrade('/dead'), 1500)).split('\r\n')[0] ?? '', /503/);
  assert.equal(env.proxy.clusters.get('dead')?.outlier?.stats.ejections_active, 1);
});

test("an upstream's 5xx answers to upgrades eject it", async () => {
  const port = await env.port('0.0.0.0_8080');
  for (let i = 0; i < 2; i++) assert.match((await rawExchange(port, upgrade('/chat'), 1500)).split('\r\n')[0] ?? '', /503/);
  assert.equal(env.proxy.clusters.get('refusing')?.outlier?.stats.ejections_active, 1);
});
