// A WebSocket upgrade ends on Envoy's timers, on the proxy's injected clock: the route timeout until the
// upstream's answer head (504 UT), the stream idle timeout before it (504 SI) and on the spliced
// connection (both sides closed); and an answer other than 101 ends the upgrade once it is complete (by
// its length or its last chunk), though the upstream keeps its connection open.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { FakeClock, until } from '../resilience/fake-clock.ts';
import { cla, cluster, hcm, listener, push, startProxy } from './harness.ts';

const ROUTE_TIMEOUT_MS = 7_000;
const IDLE_MS = 11_000;

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: net.Server;
let port: number;
const clock = new FakeClock();
/** Upstream connections open, by the path of the upgrade they carry. */
const open = new Map<string, number>();
/** Heads the upstream received, by path. */
const heads = new Map<string, number>();

/** The upstream: by path, never answers, answers without switching (and keeps its connection), or switches and echoes. */
function serve(s: net.Socket): void {
  let buf = '';
  let path = '';
  s.on('error', () => {});
  s.on('close', () => open.set(path, (open.get(path) ?? 1) - 1));
  const onHead = (c: Buffer): void => {
    buf += c.toString('latin1');
    if (!buf.includes('\r\n\r\n')) return;
    s.removeListener('data', onHead);
    path = buf.slice(buf.indexOf(' ') + 1, buf.indexOf(' HTTP/'));
    open.set(path, (open.get(path) ?? 0) + 1);
    heads.set(path, (heads.get(path) ?? 0) + 1);
    if (path === '/length') s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    else if (path === '/chunked') {
      s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 403 Forbidden\r\ntransfer-encoding: chunked\r\n\r\n2\r\nno\r\n');
      setTimeout(() => s.write('0\r\n\r\n'), 20);
    } else if (path === '/switch') {
      s.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
      s.on('data', (d: Buffer) => s.write(Buffer.concat([Buffer.from('echo:'), d])));
    }
  };
  s.on('data', onHead);
}

before(async () => {
  backend = net.createServer(serve);
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  env = await startProxy({ timers: clock });
  push(env.proxy, [
    cluster('app'),
    cla('app', [{ port: (backend.address() as net.AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { upgrade_configs: [{ upgrade_type: 'websocket' }], stream_idle_timeout: { seconds: String(IDLE_MS / 1000) } }) }]),
    {
      '@type': TypeUrl.RouteConfiguration,
      name: 'r',
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [
            { name: 'no-route-timeout', match: { prefix: '/idle-only' }, route: { cluster: 'app', timeout: { seconds: '0' } } },
            { name: 'timed', match: { prefix: '/' }, route: { cluster: 'app', timeout: { seconds: String(ROUTE_TIMEOUT_MS / 1000) } } },
          ],
        },
      ],
    },
  ]);
  port = await env.port('0.0.0.0_8080');
});

after(async () => {
  await env.close();
  backend.close();
});

/** A client asking to upgrade on `path`: what it received, and whether its connection closed. */
function upgrade(path: string): { socket: net.Socket; got: () => string; closed: () => boolean } {
  const socket = net.connect(port, '127.0.0.1');
  let got = '';
  let closed = false;
  socket.on('data', (c: Buffer) => {
    got += c.toString('latin1');
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
  });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
  return { socket, got: () => got, closed: () => closed };
}

test('an upstream that never answers: the route timeout ends the wait with 504 UT, and its connection is closed', async () => {
  const c = upgrade('/silent');
  await until(() => heads.get('/silent') === 1, 'the upstream got the upgrade');
  clock.advance(ROUTE_TIMEOUT_MS - 1);
  assert.equal(c.closed(), false);
  clock.advance(1);
  await until(c.closed, 'the client connection closed');
  assert.match(c.got(), /^HTTP\/1\.1 504 Gateway Timeout\r\n[\s\S]*\r\n\r\nupstream request timeout$/);
  await until(() => open.get('/silent') === 0, 'the upstream connection closed');
});

test('without a route timeout, the stream idle timeout ends the wait for the answer: 504 SI', async () => {
  const c = upgrade('/idle-only');
  await until(() => heads.get('/idle-only') === 1, 'the upstream got the upgrade');
  clock.advance(IDLE_MS - 1);
  assert.equal(c.closed(), false);
  clock.advance(1);
  await until(c.closed, 'the client connection closed');
  assert.match(c.got(), /^HTTP\/1\.1 504 Gateway Timeout\r\n[\s\S]*\r\n\r\nstream timeout$/);
  await until(() => open.get('/idle-only') === 0, 'the upstream connection closed');
});

test('an answer other than 101 ends the upgrade once its body is in (Content-Length), though the upstream keeps its connection', async () => {
  const c = upgrade('/length');
  await until(c.closed, 'the client connection closed, with no timer fired');
  assert.match(c.got(), /^HTTP\/1\.1 200 OK\r\ncontent-length: 2\r\nserver: envoy\r\nconnection: close\r\n\r\nok$/);
  await until(() => open.get('/length') === 0, 'the upstream connection closed');
});

test('a chunked answer other than 101 ends at its last chunk; an interim 100 before it is dropped', async () => {
  const c = upgrade('/chunked');
  await until(c.closed, 'the client connection closed, with no timer fired');
  assert.equal(c.got(), 'HTTP/1.1 403 Forbidden\r\ntransfer-encoding: chunked\r\nserver: envoy\r\nconnection: close\r\n\r\n2\r\nno\r\n0\r\n\r\n');
  await until(() => open.get('/chunked') === 0, 'the upstream connection closed');
});

test('a spliced upgrade: no route timeout after the 101, traffic keeps it, and a silent one is closed by the stream idle timeout', async () => {
  const c = upgrade('/switch');
  await until(() => c.got().includes('\r\n\r\n'), 'the 101');
  assert.match(c.got(), /^HTTP\/1\.1 101 /);
  c.socket.write('one');
  await until(() => c.got().endsWith('echo:one'), 'the first echo');
  // Past the route timeout and one idle period: the traffic so far keeps it.
  clock.advance(IDLE_MS);
  c.socket.write('two');
  await until(() => c.got().endsWith('echo:two'), 'the second echo, after the route timeout');
  clock.advance(IDLE_MS);
  assert.equal(c.closed(), false, 'traffic in the last period re-armed the idle timer');
  clock.advance(IDLE_MS);
  await until(c.closed, 'the client connection closed after a silent period');
  await until(() => open.get('/switch') === 0, 'the upstream connection closed');
});
