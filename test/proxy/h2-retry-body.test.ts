// A request body relayed into an HTTP/2 upstream and replayed on a retry: the body goes to each try
// whole, whether the first try was answered after it or while it was still arriving, and the second
// try's answer reaches the client with its trailers.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { cla, cluster, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let upstream: http2.Http2Server;
let gw: number;
/** Per path: the bodies each try delivered, whole or as far as they got. */
const seen = new Map<string, string[]>();

before(async () => {
  upstream = http2.createServer();
  upstream.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const path = String(headers[':path']);
    const tries = seen.get(path) ?? [];
    seen.set(path, tries);
    const index = tries.length;
    tries.push('');
    stream.on('data', (c: Buffer) => {
      tries[index] += c.toString();
      // The first try of /early is answered while its body is still coming.
      if (path === '/early' && index === 0 && !stream.headersSent) {
        stream.respond({ ':status': 503 }, { endStream: true });
        earlyAnswered.resolve();
      }
    });
    stream.on('end', () => {
      if (stream.headersSent) return;
      if (index === 0) return void stream.respond({ ':status': 503 }, { endStream: true });
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(tries[index]);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  env = await startProxy();
  const routes = routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'h2' }] }]) as unknown as { virtual_hosts: { routes: { route: Record<string, unknown> }[] }[] };
  for (const r of routes.virtual_hosts[0]?.routes ?? []) r.route['retry_policy'] = { retry_on: '5xx', num_retries: { value: 1 } };
  push(env.proxy, [cluster('h2', { http2: true }), cla('h2', [{ port: (upstream.address() as net.AddressInfo).port }]), listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]), routes as never]);
  gw = await env.port('0.0.0.0_8080');
});

after(async () => {
  await env.close();
  upstream.close();
});

/** Resolved when the upstream has answered the first try of /early, its body not all sent yet. */
const earlyAnswered = Promise.withResolvers<void>();

/**
 * POSTs `chunks` over h2c, one per turn of the event loop, and reads the answer; with `afterFirst`, the
 * chunks after the first wait for it.
 */
async function post(path: string, chunks: string[], afterFirst?: Promise<void>): Promise<{ status: number; body: string; trailers: http2.IncomingHttpHeaders }> {
  const session = http2.connect(`http://127.0.0.1:${gw}`);
  try {
    const req = session.request({ ':method': 'POST', ':path': path, ':authority': 'h2.example.com', 'content-type': 'application/grpc' });
    let status = 0;
    let body = '';
    let trailers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => {
      status = Number(h[':status']);
    });
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('trailers', (t) => {
      trailers = t;
    });
    const done = new Promise<void>((resolve, reject) => {
      req.on('close', resolve);
      req.on('error', reject);
    });
    for (const [i, c] of chunks.entries()) {
      req.write(c);
      if (i === 0 && afterFirst) await afterFirst;
      await new Promise((r) => setImmediate(r));
    }
    req.end();
    await done;
    return { status, body, trailers };
  } finally {
    session.close();
  }
}

test('a body relayed to an HTTP/2 upstream is replayed whole to the retry, which answers with trailers', async () => {
  const chunks = ['a'.repeat(10_000), 'b'.repeat(10_000), 'c'.repeat(10_000), 'd'.repeat(10_000)];
  const res = await post('/after', chunks);
  assert.equal(res.status, 200);
  assert.equal(res.body, chunks.join(''));
  assert.equal(res.trailers['grpc-status'], '0');
  assert.deepEqual(seen.get('/after'), [chunks.join(''), chunks.join('')]);
});

test('a first try answered while its body still arrives is cut, and the retry gets the whole body', async () => {
  const chunks = ['e'.repeat(8_000), 'f'.repeat(8_000), 'g'.repeat(8_000), 'h'.repeat(8_000)];
  const res = await post('/early', chunks, earlyAnswered.promise);
  assert.equal(res.status, 200);
  assert.equal(res.body, chunks.join(''));
  const tries = seen.get('/early') ?? [];
  assert.equal(tries.length, 2);
  assert.ok(chunks.join('').startsWith(tries[0] ?? 'x'), 'the first try got a prefix of the body');
  assert.ok((tries[0] ?? '').length < chunks.join('').length, `the first try was cut: it got ${tries[0]?.length} bytes`);
  assert.equal(tries[1], chunks.join(''));
});
