// HTTP/2 and gRPC pass-through: an h2c client, an h2c upstream cluster, trailers with grpc-status,
// streaming both ways, a gRPC-shaped local reply, and HTTP/2's own strictness rules.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { cla, cluster, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let upstream: http2.Http2Server;
let gw: number;

before(async () => {
  upstream = http2.createServer();
  upstream.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    if (headers[':path'] === '/echo.Echo/Stream') {
      // Streaming both ways: echo every message as it arrives, then trailers.
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('data', (c: Buffer) => stream.write(c));
      stream.on('end', () => stream.end());
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' }));
      return;
    }
    if (headers[':path'] === '/echo.Echo/Missing') {
      // The server's trailers-only answer: one HEADERS frame with END_STREAM.
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'no such thing' }, { endStream: true });
      return;
    }
    stream.respond({ ':status': 200, 'x-path': String(headers[':path']), 'x-authority': String(headers[':authority']) });
    stream.end('h2 ok');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  env = await startProxy();
  push(env.proxy, [
    cluster('outbound|50051||grpc', { http2: true }),
    cluster('outbound|50051||none'),
    cla('outbound|50051||grpc', [{ port: (upstream.address() as net.AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
    routeConfig('http.8080', [
      {
        domains: ['grpc.example.com'],
        routes: [
          { prefix: '/none.', cluster: 'outbound|50051||none' },
          { prefix: '/', cluster: 'outbound|50051||grpc' },
        ],
      },
    ]),
  ]);
  gw = await env.port('0.0.0.0_8080');
});

after(async () => {
  await env.close();
  upstream.close();
});

function h2(): http2.ClientHttp2Session {
  const s = http2.connect(`http://127.0.0.1:${gw}`);
  s.on('error', () => {});
  return s;
}

function exchange(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer[]): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; data: Buffer; rst?: number }> {
  return new Promise((resolve) => {
    const req = session.request(headers, { endStream: !body });
    let resHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      resHeaders = h;
    });
    req.on('trailers', (t) => {
      trailers = t;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('close', () => resolve({ headers: resHeaders, trailers, data: Buffer.concat(chunks), rst: req.rstCode }));
    if (body) {
      for (const b of body) req.write(b);
      req.end();
    }
  });
}

const frame = (msg: string) => {
  const payload = Buffer.from(msg);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
};

test('h2c downstream to an h2c upstream keeps path and authority', async () => {
  const s = h2();
  const r = await exchange(s, { ':path': '/hello?x=1', ':authority': 'grpc.example.com' });
  s.close();
  assert.equal(r.headers[':status'], 200);
  assert.equal(r.headers['x-path'], '/hello?x=1');
  assert.equal(r.headers['x-authority'], 'grpc.example.com');
  assert.equal(r.data.toString(), 'h2 ok');
});

test('gRPC bidirectional streaming passes messages and trailers through', async () => {
  const s = h2();
  const r = await exchange(s, { ':method': 'POST', ':path': '/echo.Echo/Stream', ':authority': 'grpc.example.com', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '5S' }, [frame('one'), frame('two')]);
  s.close();
  assert.equal(r.headers[':status'], 200);
  assert.equal(r.trailers['grpc-status'], '0');
  assert.equal(r.trailers['grpc-message'], 'ok');
  assert.deepEqual(r.data, Buffer.concat([frame('one'), frame('two')]));
});

test('a gRPC request that fails locally gets a trailers-only gRPC status', async () => {
  const s = h2();
  const r = await exchange(s, { ':method': 'POST', ':path': '/none.Svc/Call', ':authority': 'grpc.example.com', 'content-type': 'application/grpc', te: 'trailers' }, [frame('x')]);
  s.close();
  assert.equal(r.headers[':status'], 200);
  assert.equal(r.headers['grpc-status'], '14');
});

test('a gRPC client (grpc-js) reads the local reply as trailers-only: the status it names, not INTERNAL', async () => {
  const client = new grpc.Client(`127.0.0.1:${gw}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'grpc.example.com' });
  try {
    const err = await new Promise<grpc.ServiceError | null>((resolve) => {
      client.makeUnaryRequest('/none.Svc/Call', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), (e) => resolve(e));
    });
    assert.equal(err?.code, grpc.status.UNAVAILABLE, err?.details);
    // An upstream's trailers-only answer passes as one: the client reads its NOT_FOUND.
    const upstreamErr = await new Promise<grpc.ServiceError | null>((resolve) => {
      client.makeUnaryRequest('/echo.Echo/Missing', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), (e) => resolve(e));
    });
    assert.equal(upstreamErr?.code, grpc.status.NOT_FOUND, upstreamErr?.details);
    assert.equal(upstreamErr?.details, 'no such thing');
  } finally {
    client.close();
  }
});

test('HTTP/2 strictness: host ≠ :authority and mixed-case :scheme are refused; fragments are stripped', async () => {
  const s = h2();
  const mismatch = await exchange(s, { ':path': '/', ':authority': 'grpc.example.com', host: 'evil.example.com' });
  assert.equal(mismatch.headers[':status'], 400);
  const scheme = await exchange(s, { ':path': '/', ':authority': 'grpc.example.com', ':scheme': 'HtTp' });
  assert.ok(Number(scheme.headers[':status']) === 400 || scheme.rst !== 0, 'mixed-case scheme rejected');
  const frag = await exchange(s, { ':path': '/a#frag', ':authority': 'grpc.example.com' });
  assert.equal(frag.headers['x-path'], '/a');
  s.close();
});

test('rapid reset: a session resetting most of its streams right after opening them is closed', async () => {
  const s = http2.connect(`http://127.0.0.1:${gw}`, { settings: { maxConcurrentStreams: 1000 } });
  s.on('error', () => {});
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  let opened = 0;
  // Bounded: stop as soon as the proxy closes the session (it must before 2,000 streams).
  while (!s.closed && !s.destroyed && opened < 2000) {
    const req = s.request({ ':path': '/slow', ':authority': 'grpc.example.com' });
    req.on('error', () => {});
    req.close(http2.constants.NGHTTP2_CANCEL);
    opened++;
    if (opened % 100 === 0) await new Promise((r) => setImmediate(r));
  }
  await closed;
  assert.ok(opened <= 1000, `closed after ${opened} streams`);
});
