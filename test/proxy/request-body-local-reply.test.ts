// A request body nothing reads any more: the proxy answers itself after routing (every endpoint
// refuses: 503 UF; the route times out once the upload is in: 504 UT), or the upstream's response is
// complete before the body is. The stream must still end (the rest of the body drained, or an HTTP/2
// upload still being sent reset with RST_STREAM NO_ERROR): an HTTP/2 stream whose body outgrew its buffers
// otherwise never ends, and the request is never logged, never counted and never leaves the proxy's
// in-flight count.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { FakeClock } from '../resilience/fake-clock.ts';
import { telemetryConfig } from '../telemetry/drive-filter.ts';
import * as H from './harness.ts';

const BODY = 300_000;

/** Resolves once `ok()` holds, checking as the event loop turns; rejects with `what` after 10 s. */
async function until(what: string, ok: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what}: not within 10 s`);
    await new Promise((r) => setImmediate(r));
  }
}

async function refusingProxy(t: { after(fn: () => unknown): void }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-body-reply-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logFile = path.join(dir, 'access.log');
  const env = await H.startProxy({ metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'api', LABELS: { app: 'api' } } });
  t.after(() => env.close());
  const stats = { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'destination', workload: { workload: 'api', namespace: 'shop', labels: {} }, metrics: false, access_log: { path: logFile, encoding: 'JSON' } }) };
  H.push(env.proxy, [
    H.cluster('app'),
    H.cla('app', [{ port: await H.closedPort() }]),
    H.listener('0.0.0.0_8080', 8080, [{ filter: H.hcm('http.8080', { http_filters: [stats, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }] }) }]),
    H.routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'app' }] }]),
  ]);
  const logged = (): Record<string, unknown>[] =>
    existsSync(logFile)
      ? readFileSync(logFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>)
      : [];
  return { env, port: await env.port('0.0.0.0_8080'), logged };
}

/** A POST stream on `client` whose response is read and discarded; its status and whether it closed. */
function upload(client: http2.ClientHttp2Session): { stream: http2.ClientHttp2Stream; status: () => number; closed: () => boolean } {
  const stream = client.request({ ':method': 'POST', ':path': '/upload', ':authority': 'api' });
  stream.on('error', () => {});
  let status = 0;
  let closed = false;
  stream.on('response', (h) => {
    status = Number(h[':status']);
  });
  stream.once('close', () => {
    closed = true;
  });
  stream.resume();
  return { stream, status: () => status, closed: () => closed };
}

test('HTTP/2: a 300 KB body answered 503 before any upstream reads it ends, is logged and leaves nothing in flight', async (t) => {
  const { env, port, logged } = await refusingProxy(t);
  const client = http2.connect(`http://127.0.0.1:${port}`);
  t.after(() => client.destroy());
  const { stream, status, closed } = upload(client);
  stream.end(Buffer.alloc(BODY, 1));
  await until('the client stream closes', closed);
  assert.equal(status(), 503);
  await until('the proxy ends the stream', () => env.proxy.inflight === 0);
  await until('the access log has the request', () => logged().length === 1);
  const [line] = logged();
  assert.equal(line?.['response_code'], 503);
  assert.equal(line?.['response_flags'], 'UF');
  // The reply completed before the upload: the stream is reset after it (RST_STREAM NO_ERROR, Envoy's
  // doEndStream) rather than the rest of the body read and dropped. What arrived is counted.
  assert.equal(stream.rstCode, http2.constants.NGHTTP2_NO_ERROR);
  const received = Number(line?.['bytes_received']);
  assert.ok(received > 0 && received < BODY, `${received} of ${BODY} bytes`);
});

test('HTTP/1.1: the same request gets its 503 and its log line', async (t) => {
  const { env, port, logged } = await refusingProxy(t);
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/upload', headers: { host: 'api', 'content-length': String(BODY) }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(Buffer.alloc(BODY, 1));
  });
  assert.equal(status, 503);
  await until('the proxy ends the stream', () => env.proxy.inflight === 0);
  await until('the access log has the request', () => logged().length === 1);
  assert.equal(logged()[0]?.['response_code'], 503);
});

/** An HTTP/2 upstream that reads request bodies and never answers. */
async function silentH2Upstream(t: { after(fn: () => unknown): void }): Promise<{ port: number; received: () => number }> {
  let received = 0;
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.on('data', (c: Buffer) => {
      received += c.length;
    });
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => sessions.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sessions) s.destroy();
    server.close();
  });
  return { port: (server.address() as net.AddressInfo).port, received: () => received };
}

test('HTTP/2 cluster: the route timeout waits out the upload, counts from its end, and the 504 still ends the downstream stream', async (t) => {
  const ROUTE_TIMEOUT_MS = 7321;
  const clock = new FakeClock();
  const dir = mkdtempSync(path.join(tmpdir(), 'or-body-timeout-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logFile = path.join(dir, 'access.log');
  const upstream = await silentH2Upstream(t);
  const env = await H.startProxy({ timers: clock, metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'api', LABELS: { app: 'api' } } });
  t.after(() => env.close());
  const stats = { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'destination', workload: { workload: 'api', namespace: 'shop', labels: {} }, metrics: false, access_log: { path: logFile, encoding: 'JSON' } }) };
  H.push(env.proxy, [
    H.cluster('app', { http2: true }),
    H.cla('app', [{ port: upstream.port }]),
    H.listener('0.0.0.0_8080', 8080, [{ filter: H.hcm('http.8080', { http_filters: [stats, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }] }) }]),
    H.routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'app', timeout: { seconds: '7', nanos: 321_000_000 } }] }]),
  ]);
  const client = http2.connect(`http://127.0.0.1:${await env.port('0.0.0.0_8080')}`);
  t.after(() => client.destroy());
  const { stream, status, closed } = upload(client);
  // The upload is under way (the upstream reads it) when the route's timeout runs out: as Envoy's, it
  // counts from the request's end, so nothing happens yet.
  stream.write(Buffer.alloc(64 * 1024, 1));
  await until('the upstream reads the upload', () => upstream.received() > 0);
  clock.advance(ROUTE_TIMEOUT_MS);
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(status(), 0, 'no 504 while the client is still sending');
  stream.end(Buffer.alloc(BODY, 1));
  await until('the upstream reads the whole upload', () => upstream.received() === 64 * 1024 + BODY);
  clock.advance(ROUTE_TIMEOUT_MS - 1);
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(status(), 0, 'a full timeout from the end of the upload');
  clock.advance(1);
  await until('the 504 arrives', () => status() !== 0);
  assert.equal(status(), 504);
  await until('the client stream closes', closed);
  await until('the proxy ends the stream', () => env.proxy.inflight === 0);
  const lines = (): string[] => (existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : []);
  await until('the access log has the request', () => lines().length === 1);
  assert.equal((JSON.parse(lines()[0] as string) as Record<string, unknown>)['response_flags'], 'UT');
});

test('HTTP/2 cluster without telemetry: an upstream answering in full before reading the body ends the stream', async (t) => {
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    // Answered at once; the body is never read.
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const env = await H.startProxy();
  t.after(() => env.close());
  H.push(env.proxy, [
    H.cluster('app', { http2: true }),
    H.cla('app', [{ port: (server.address() as net.AddressInfo).port }]),
    H.listener('0.0.0.0_8080', 8080, [{ filter: H.hcm('http.8080') }]),
    H.routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'app' }] }]),
  ]);
  const client = http2.connect(`http://127.0.0.1:${await env.port('0.0.0.0_8080')}`);
  t.after(() => client.destroy());
  const { stream, status, closed } = upload(client);
  stream.end(Buffer.alloc(BODY, 1));
  await until('the client stream closes', closed);
  assert.equal(status(), 200);
  await until('the proxy ends the stream', () => env.proxy.inflight === 0);
});
