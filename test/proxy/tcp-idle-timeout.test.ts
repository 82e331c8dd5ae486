// tcp_proxy's idle timeout, as Envoy's: a TCP connection with no byte either way for `idle_timeout`
// (1 hour when the TcpProxy sets none; 0 turns it off) is closed, downstream and upstream. Without it a
// client that goes silent, or a peer that vanished without a FIN (a half-open connection), held two
// sockets for as long as the proxy ran. Time is the test's clock.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { FakeClock } from '../resilience/fake-clock.ts';
import { cla, cluster, listener, push, startProxy, tcpProxy } from './harness.ts';

const clock = new FakeClock();
let env: Awaited<ReturnType<typeof startProxy>>;
let backend: net.Server;
const upstreams: net.Socket[] = [];

before(async () => {
  backend = net.createServer((s) => {
    upstreams.push(s);
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  env = await startProxy({ timers: clock });
  const port = (backend.address() as net.AddressInfo).port;
  push(env.proxy, [
    cluster('echo'),
    cla('echo', [{ port }]),
    listener('tcp-default', 9000, [{ filter: tcpProxy('echo') }]),
    listener('tcp-off', 9001, [{ filter: { ...tcpProxy('echo'), idle_timeout: { seconds: '0' } } }]),
  ]);
});

after(async () => {
  await env.close();
  for (const s of upstreams) s.destroy();
  backend.close();
});

async function connected(port: number): Promise<{ socket: net.Socket; closed: () => boolean; echo(text: string): Promise<void> }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let isClosed = false;
  socket.once('close', () => {
    isClosed = true;
  });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const echo = (text: string) =>
    new Promise<void>((resolve) => {
      socket.once('data', () => resolve());
      socket.write(text);
    });
  return { socket, closed: () => isClosed, echo };
}

/** A few turns of the event loop: enough for a close to reach the client. */
async function turns(n = 50): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

test('a TCP connection idle for an hour is closed; bytes either way keep it open', async () => {
  const c = await connected(await env.port('tcp-default'));
  await c.echo('ping');
  clock.advance(50 * 60_000);
  await c.echo('again');
  clock.advance(50 * 60_000);
  await turns();
  assert.equal(c.closed(), false, 'active 50 minutes ago: open');
  clock.advance(10 * 60_000 + 1);
  for (let i = 0; i < 1000 && !c.closed(); i++) await new Promise((r) => setImmediate(r));
  assert.equal(c.closed(), true, 'an hour without a byte: closed');
});

test('idle_timeout 0s turns it off', async () => {
  const c = await connected(await env.port('tcp-off'));
  await c.echo('ping');
  clock.advance(5 * 3_600_000);
  await turns();
  assert.equal(c.closed(), false);
  c.socket.destroy();
});
