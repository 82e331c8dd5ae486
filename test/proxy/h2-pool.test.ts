// Envoy's HTTP/2 upstream pool against a real h2 server that allows 2 concurrent streams: parallel
// requests spread over as many sessions as the limit needs, and max_requests still caps them.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { cla, cluster, hcm, listener, push, request, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let upstream: http2.Http2Server;
let sessions = 0;
/** Streams held open until `release` answers them all. */
let held: http2.ServerHttp2Stream[] = [];
let releaseAt = 0;
let port: number;

before(async () => {
  upstream = http2.createServer({ settings: { maxConcurrentStreams: 2 } });
  upstream.on('session', (s) => {
    sessions++;
    s.on('error', () => {});
  });
  upstream.on('stream', (stream) => {
    stream.on('error', () => {});
    held.push(stream);
    // Slow requests: nobody is answered until `releaseAt` streams are open at once.
    if (held.length >= releaseAt) {
      for (const s of held) {
        s.respond({ ':status': 200 });
        s.end(`ok ${held.length}`);
      }
      held = [];
    }
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamPort = (upstream.address() as net.AddressInfo).port;
  env = await startProxy();
  push(env.proxy, [
    cluster('wide', { http2: true, maxRequests: 100 }),
    cluster('narrow', { http2: true, maxRequests: 4 }),
    cla('wide', [{ port: upstreamPort }]),
    cla('narrow', [{ port: upstreamPort }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
    routeConfig('http.8080', [
      { domains: ['wide.example.com'], routes: [{ prefix: '/', cluster: 'wide' }] },
      { domains: ['narrow.example.com'], routes: [{ prefix: '/', cluster: 'narrow' }] },
    ]),
  ]);
  port = await env.port('0.0.0.0_8080');
});

after(async () => {
  await env.close();
  upstream.close();
});

test('5 parallel slow requests to a peer allowing 2 streams use 3 connections and all succeed', { timeout: 30_000 }, async () => {
  sessions = 0;
  releaseAt = 5;
  const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => request(port, `/r${i}`, { host: 'wide.example.com' })));
  assert.deepEqual(
    answers.map((a) => a.status),
    [200, 200, 200, 200, 200],
  );
  // All five were open upstream at once, which a single 2-stream session could not hold.
  assert.ok(answers.every((a) => a.body === 'ok 5'));
  assert.equal(sessions, 3);
});

test('max_requests still caps the requests in flight: the fifth is 503 UO', { timeout: 30_000 }, async () => {
  releaseAt = 4;
  const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => request(port, `/n${i}`, { host: 'narrow.example.com' })));
  const statuses = answers.map((a) => a.status).sort();
  assert.deepEqual(statuses, [200, 200, 200, 200, 503]);
  const overflow = answers.find((a) => a.status === 503);
  assert.equal(overflow?.headers['x-envoy-response-flags'], 'UO');
});
