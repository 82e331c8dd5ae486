// A client that opens a connection to an HTTP listener and sends nothing. One that sends part of a
// request head is cut at the head timeout (408); one that sends not a byte held its socket for as long
// as it liked, so enough of them took every file descriptor of the proxy. Node's server counts its
// headersTimeout from the connection's start, Envoy closes a connection without requests at its
// idle_timeout; the proxy closes a silent one at the head timeout (60 s), on the clock the test drives.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { cla, cluster, echoBackend, hcm, listener, ManualTimers, push, request, routeConfig, startProxy } from './harness.ts';

const timers = new ManualTimers();
let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
let port: number;

before(async () => {
  backend = await echoBackend();
  env = await startProxy({ timers });
  push(env.proxy, [cluster('echo'), cla('echo', [{ port: backend.port }]), listener('l', 8080, [{ filter: hcm('r') }]), routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'echo' }] }])]);
  port = await env.port('l');
});

after(async () => {
  await env.close();
  backend.server.close();
});

test('a connection that sends nothing is closed at the head timeout; one that sends a request is served', async () => {
  const silent = net.connect(port, '127.0.0.1');
  silent.on('error', () => {});
  const closed = new Promise<void>((r) => silent.once('close', () => r()));
  await new Promise<void>((r) => silent.once('connect', () => r()));
  // The proxy's side of the connection is set up once it accepted it (a few turns): wait for its timer.
  const armed = () => [...timers.pending.values()].some((t) => t.ms === 60_000);
  for (let i = 0; i < 1000 && !armed(); i++) await new Promise((r) => setImmediate(r));
  assert.equal(timers.fire(60_000), true, 'a timer runs on the silent connection');
  await closed;
  assert.equal((await request(port, '/', { host: 'a' })).status, 200, 'a client that speaks is served');
});
