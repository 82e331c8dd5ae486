// A mirrored request whose primary answers before the request body is in (Envoy: the stream ends with
// its request incomplete, and Router::Filter::onDestroy cancels its shadow): the mirror never gets a
// request. HTTP/2: the proxy resets the client's stream with RST_STREAM NO_ERROR once the response is
// out, and Node ends the request body as if whole; the copy must not go out then. A body whose end has
// arrived, not yet read when the primary answers, is whole: the mirror gets all of it.
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { frame, FrameType, serveRawH2 } from './h2-frames.ts';
import { cla, cluster, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let port: number;
let primary: http.Server;
let shadow: http.Server;
/**
 * A raw HTTP/2 primary that grants no window (SETTINGS_INITIAL_WINDOW_SIZE 0: the proxy's copy of the
 * body waits, unread) and answers each request 100 ms after its HEADERS, whole, at once.
 */
let stalling: net.Server;
const stallingSockets = new Set<net.Socket>();
/** What the mirror got, by path: the body's length, and whether its end came. */
const shadowSaw = new Map<string, { bytes: number; ended: boolean }>();

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

before(async () => {
  // Answers at once, never reading the body.
  primary = http.createServer((_req, res) => res.end('early answer'));
  shadow = http.createServer((req, res) => {
    const seen = { bytes: 0, ended: false };
    shadowSaw.set(String(req.url), seen);
    req.on('data', (c: Buffer) => (seen.bytes += c.length));
    req.on('end', () => {
      seen.ended = true;
      res.end();
    });
    req.on('error', () => {});
  });
  await new Promise<void>((r) => primary.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => shadow.listen(0, '127.0.0.1', r));
  stalling = net.createServer((s) => {
    stallingSockets.add(s);
    // A zero initial window (SETTINGS_INITIAL_WINDOW_SIZE 0): the proxy can send no DATA. Each request is
    // answered :status 200 (HPACK static index 8), END_STREAM | END_HEADERS.
    serveRawH2(s, (type, id) => type === FrameType.HEADERS && setTimeout(() => s.write(frame(FrameType.HEADERS, 0x5, id, Buffer.from([0x88]))), 100), Buffer.from([0, 4, 0, 0, 0, 0]));
  });
  await new Promise<void>((r) => stalling.listen(0, '127.0.0.1', r));
  env = await startProxy();
  const routes = routeConfig('r', [
    { domains: ['stalling'], routes: [{ prefix: '/', cluster: 'stalling' }] },
    { domains: ['*'], routes: [{ prefix: '/', cluster: 'primary' }] },
  ]) as unknown as { virtual_hosts: { routes: { route: Record<string, unknown> }[] }[] };
  for (const vh of routes.virtual_hosts) {
    const r0 = vh.routes[0];
    if (r0) r0.route['request_mirror_policies'] = [{ cluster: 'shadow', runtime_fraction: { default_value: { numerator: 100, denominator: 'HUNDRED' } } }];
  }
  push(env.proxy, [
    cluster('primary'),
    cla('primary', [{ port: (primary.address() as net.AddressInfo).port }]),
    cluster('stalling', { http2: true }),
    cla('stalling', [{ port: (stalling.address() as net.AddressInfo).port }]),
    cluster('shadow'),
    cla('shadow', [{ port: (shadow.address() as net.AddressInfo).port }]),
    listener('l', 8081, [{ filter: hcm('r', { http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }] }) }]),
    routes as never,
  ]);
  port = await env.port('l');
});

after(async () => {
  for (const s of stallingSockets) s.destroy();
  stalling.close();
  await env.close();
  primary.closeAllConnections();
  primary.close();
  shadow.closeAllConnections();
  shadow.close();
});

/** An HTTP/2 POST of `body`, its END_STREAM sent if `end`: the status and the stream's close code. */
function post(p: string, body: Buffer, end: boolean, authority = 'web'): Promise<{ status: number; rstCode: number }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  return new Promise((resolve) => {
    const req = session.request({ ':method': 'POST', ':path': p, ':authority': authority, 'content-type': 'text/plain' });
    req.on('error', () => {});
    let status = 0;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.resume();
    req.on('close', () => {
      session.close();
      resolve({ status, rstCode: req.rstCode });
    });
    if (end) req.end(body);
    else req.write(body);
  });
}

test('HTTP/2: the primary answers while the client still uploads: the client gets it whole, the mirror nothing', async () => {
  const a = await post('/h2-early', Buffer.from('first half;'), false);
  assert.deepEqual(a, { status: 200, rstCode: http2.constants.NGHTTP2_NO_ERROR });
  await until('nothing left in flight', () => env.proxy.inflight === 0);
  await new Promise((r) => setTimeout(r, 200));
  const seen = shadowSaw.get('/h2-early');
  assert.ok(seen === undefined || !seen.ended, `no copy, or one never ended (${JSON.stringify(seen)})`);
});

test('HTTP/1.1: the same (the connection closes after the response): the mirror nothing', async () => {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString()));
  s.write('POST /h1-early HTTP/1.1\r\nhost: web\r\ncontent-length: 100\r\n\r\nfirst half;');
  await until('the response', () => got.includes('early answer'));
  assert.match(got, /^HTTP\/1\.1 200 OK\r\n/);
  s.destroy();
  await until('nothing left in flight', () => env.proxy.inflight === 0);
  await new Promise((r) => setTimeout(r, 200));
  const seen = shadowSaw.get('/h1-early');
  assert.ok(seen === undefined || !seen.ended, `no copy, or one never ended (${JSON.stringify(seen)})`);
});

test('HTTP/2: a whole body not yet read when the primary answers: the mirror gets all of it', async () => {
  // Within the proxy's stream window (65,535): all of it and its END_STREAM arrive while the copy for
  // the primary waits for a window that never comes.
  const body = Buffer.alloc(60_000, 'a');
  const a = await post('/h2-whole', body, true, 'stalling');
  assert.equal(a.status, 200);
  await until('the mirror has the request', () => shadowSaw.get('/h2-whole')?.ended === true);
  assert.equal(shadowSaw.get('/h2-whole')?.bytes, body.length);
});
