// A listener that a config push removes, or replaces with one of another kind on its port, drains: its
// requests in flight finish, and its long-lived connections (a WebSocket here) carry on until Istio's
// drain deadline, when they are closed with it. Before, the old listener was drained and forgotten:
// such a connection outlived its config, and even the proxy's close().
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { RETIRED_LISTENER_DRAIN_MS } from '../../src/proxy/listener/listener-manager.ts';
import { cla, cluster, hcm, listener, ManualTimers, push, routeConfig, startProxy } from './harness.ts';

const timers = new ManualTimers();
let env: Awaited<ReturnType<typeof startProxy>>;
let backend: http.Server;
const resources = () => [cluster('ws'), cla('ws', [{ port: (backend.address() as net.AddressInfo).port }]), routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'ws' }] }])];

before(async () => {
  backend = http.createServer((_req, res) => res.end('plain'));
  backend.on('upgrade', (_req, socket: net.Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
    socket.on('data', (c: Buffer) => socket.write(c));
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  env = await startProxy({ timers });
  push(env.proxy, [...resources(), listener('ws-in', 8080, [{ filter: hcm('r', { upgrade_configs: [{ upgrade_type: 'websocket' }] }) }])]);
});

after(async () => {
  await env.close();
  backend.closeAllConnections();
  backend.close();
});

function echo(s: net.Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    s.once('data', (c: Buffer) => resolve(c.toString()));
    s.once('close', () => resolve('(closed)'));
    s.write(text);
  });
}

test('a removed listener keeps its WebSocket until the drain deadline, then closes it', async () => {
  const ws = net.connect(await env.port('ws-in'), '127.0.0.1');
  ws.on('error', () => {});
  const head = await echo(ws, 'GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  assert.match(head, /^HTTP\/1\.1 101/);
  // The next listener set has another listener in place of this one.
  push(env.proxy, [...resources(), listener('other', 8081, [{ filter: hcm('r') }])], 'v2');
  assert.equal(await echo(ws, 'ping'), 'ping', 'the connection finishes its work while the listener drains');
  const closed = new Promise<void>((r) => ws.once('close', () => r()));
  assert.equal(timers.fire(RETIRED_LISTENER_DRAIN_MS), true, 'the drain deadline is set');
  await closed;
});
