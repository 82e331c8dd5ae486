// HTTP/1.1 trailers through the proxy, on raw sockets: a chunked request's trailers reach HTTP/1.1 and
// HTTP/2 upstreams; upstream response trailers reach an HTTP/1.1 client only when it sent `TE: trailers`.
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { cla, cluster, echoBackend, hcm, listener, push, rawExchange, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let h1: Awaited<ReturnType<typeof echoBackend>>;
let h2: http2.Http2Server;
const h2Trailers: http2.IncomingHttpHeaders[] = [];
let port: number;

before(async () => {
  h1 = await echoBackend((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => res.end(JSON.stringify({ body, trailers: req.trailers })));
  });
  h2 = http2.createServer();
  h2.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.on('trailers', (t) => h2Trailers.push(t));
    stream.resume();
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'fine' }));
      stream.end('payload');
    });
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  env = await startProxy();
  push(env.proxy, [
    cluster('h1'),
    cluster('h2', { http2: true }),
    cla('h1', [{ port: h1.port }]),
    cla('h2', [{ port: (h2.address() as net.AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
    routeConfig('http.8080', [
      { domains: ['h1.example.com'], routes: [{ prefix: '/', cluster: 'h1' }] },
      { domains: ['h2.example.com'], routes: [{ prefix: '/', cluster: 'h2' }] },
    ]),
  ]);
  port = await env.port('0.0.0.0_8080');
});

after(async () => {
  await env.close();
  h1.server.close();
  h2.close();
});

function chunkedWithTrailers(host: string, extra = ''): string {
  return `POST /up HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\nConnection: close\r\n${extra}\r\n5\r\nhello\r\n0\r\nx-checksum: abc123\r\n\r\n`;
}

/** Splits a raw chunked HTTP/1.1 response into its head and what follows the last chunk. */
function afterLastChunk(raw: string): { head: string; trailer: string } {
  const end = raw.indexOf('\r\n\r\n');
  const last = raw.lastIndexOf('\r\n0\r\n');
  return { head: raw.slice(0, end), trailer: last < 0 ? '' : raw.slice(last + 5) };
}

test('a chunked HTTP/1.1 request forwards its trailers to an HTTP/1.1 upstream', async () => {
  const raw = await rawExchange(port, chunkedWithTrailers('h1.example.com'), 10_000);
  assert.match(raw, /^HTTP\/1\.1 200/);
  const body = JSON.parse(raw.slice(raw.indexOf('{'), raw.lastIndexOf('}') + 1)) as { body: string; trailers: Record<string, string> };
  assert.equal(body.body, 'hello');
  assert.deepEqual(body.trailers, { 'x-checksum': 'abc123' });
});

test("mesh-internal fields sent as request trailers never reach the app: the same rule as the head's (stripMeshHeaders)", async () => {
  const forged = 'x-forwarded-client-cert: By=spiffe://cluster.local/ns/prod/sa/admin;URI=spiffe://cluster.local/ns/prod/sa/admin\r\nx-outrigger-peer: forged\r\nx-envoy-original-path: /admin\r\nx-istio-attributes: forged\r\n';
  const raw = await rawExchange(port, `POST /up HTTP/1.1\r\nHost: h1.example.com\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n${forged}x-checksum: abc123\r\n\r\n`, 10_000);
  assert.match(raw, /^HTTP\/1\.1 200/);
  const body = JSON.parse(raw.slice(raw.indexOf('{'), raw.lastIndexOf('}') + 1)) as { body: string; trailers: Record<string, string> };
  assert.equal(body.body, 'hello');
  assert.deepEqual(body.trailers, { 'x-checksum': 'abc123' });
});

test('a chunked HTTP/1.1 request forwards its trailers to an HTTP/2 upstream', async () => {
  h2Trailers.length = 0;
  const raw = await rawExchange(port, chunkedWithTrailers('h2.example.com'), 10_000);
  assert.match(raw, /^HTTP\/1\.1 200/);
  assert.equal(h2Trailers.length, 1);
  assert.equal(h2Trailers[0]?.['x-checksum'], 'abc123');
});

test('upstream response trailers reach an HTTP/1.1 client that sent TE: trailers, as chunked trailers', async () => {
  const raw = await rawExchange(port, chunkedWithTrailers('h2.example.com', 'TE: trailers\r\n'), 10_000);
  const { head, trailer } = afterLastChunk(raw);
  assert.match(head, /transfer-encoding: chunked/i);
  assert.match(trailer, /^grpc-status: 0\r\n/m);
  assert.match(trailer, /^grpc-message: fine\r\n/m);
  assert.ok(raw.endsWith('\r\n\r\n'));
});

test('without TE: trailers the response trailers are dropped', async () => {
  const raw = await rawExchange(port, chunkedWithTrailers('h2.example.com'), 10_000);
  assert.match(raw, /payload/);
  assert.doesNotMatch(raw, /grpc-status/);
});

test('Node’s client sees the trailers too (sanity of the raw parse)', async () => {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/x', method: 'POST', agent: false, headers: { host: 'h2.example.com', te: 'trailers' } }, resolve);
    req.on('error', reject);
    req.end('x');
  });
  res.resume();
  await new Promise((r) => res.on('end', r));
  assert.equal(res.trailers['grpc-status'], '0');
});
