// An upstream's `grpc-status` is the upstream's to write: any text, any number. Envoy reads it as
// Grpc::Common::getGrpcStatus does (a non-negative integer up to 16, else InvalidCode, -1), and Istio's
// stats filter labels `grpc_response_status` with that: a bad server cannot mint a series per value,
// nor (here) crash the proxy: `grpc-status: abc` became NaN, which CEL's BigInt threw on in onDone.
import assert from 'node:assert/strict';
import type http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { telemetryConfig } from './drive-filter.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let h1: Awaited<ReturnType<typeof echoBackend>>;
let h2: http2.Http2Server;
const uncaught: unknown[] = [];
const onUncaught = (err: unknown): void => {
  uncaught.push(err);
};

// A CEL tag override makes onDone build the stream's attributes (response.grpc_status among them).
const stats: TypedAny = {
  ...hcm('r'),
  http_filters: [
    {
      name: 'istio.stats',
      typed_config: telemetryConfig({
        reporter: 'source',
        workload: { workload: 'sleep', namespace: 'shop', labels: { app: 'sleep' } },
        metrics: true,
        metric_overrides: [{ name: 'requests_total', dimensions: { request_host: 'request.host' } }],
      }),
    },
    { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
  ],
};

before(async () => {
  process.on('uncaughtException', onUncaught);
  // HTTP/1.1: a trailers-only answer, grpc-status in the head.
  h1 = await echoBackend((req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/grpc', 'grpc-status': decodeURIComponent(req.url?.slice(1) ?? '0') });
    res.end();
  });
  // HTTP/2: grpc-status in the trailers.
  h2 = http2.createServer();
  h2.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    stream.resume();
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': decodeURIComponent(String(headers[':path']).slice(1)) }));
    stream.end();
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  env = await startProxy();
  push(env.proxy, [
    cluster('h1'),
    cluster('h2', { http2: true }),
    cla('h1', [{ port: h1.port }]),
    cla('h2', [{ port: (h2.address() as net.AddressInfo).port }]),
    listener('outbound', 15001, [{ filter: stats }]),
    routeConfig('r', [
      { domains: ['h1'], routes: [{ prefix: '/', cluster: 'h1' }] },
      { domains: ['h2'], routes: [{ prefix: '/', cluster: 'h2' }] },
    ]),
  ]);
});

after(async () => {
  process.removeListener('uncaughtException', onUncaught);
  await env.close();
  h1.server.closeAllConnections();
  h1.server.close();
  h2.close();
});

async function statusLabels(): Promise<string[]> {
  const text = (await request(env.admin, '/stats/prometheus')).body;
  const values = text
    .split('\n')
    .filter((l) => l.startsWith('istio_requests_total{'))
    .map((l) => /grpc_response_status="([^"]*)"/.exec(l)?.[1] ?? '?');
  return [...new Set(values)].sort();
}

/** Every stream sent has ended in the telemetry filter (its onDone counted it): `n` requests in all. */
async function settled(n: number): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    const text = (await request(env.admin, '/stats/prometheus')).body;
    const counted = text
      .split('\n')
      .filter((l) => l.startsWith('istio_requests_total{'))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    if (counted >= n) return;
    await new Promise((r) => setImmediate(r));
  }
}

test("an upstream's grpc-status values other than 0..16 all count as -1 (Envoy's InvalidCode), and none crashes the proxy", async () => {
  const port = await env.port('outbound');
  const sent = ['0', '14', '16', '17', '99999', '4294967296', 'abc', '1.5', '-3', '1e400', ''];
  for (const host of ['h1', 'h2']) {
    for (const s of sent) {
      const r = await request(port, `/${encodeURIComponent(s)}`, { host, headers: { 'content-type': 'application/grpc', te: 'trailers' } });
      assert.equal(r.status, 200, `${host} ${s}`);
    }
  }
  await settled(2 * sent.length);
  assert.deepEqual(uncaught, [], 'no exception escaped to the process');
  // Bounded: the three valid codes, and -1 for every invalid one, as Istio labels Envoy's InvalidCode.
  assert.deepEqual(await statusLabels(), ['-1', '0', '14', '16']);
  const still = await request(port, '/0', { host: 'h1', headers: { 'content-type': 'application/grpc' } });
  assert.equal(still.status, 200, 'the proxy still serves');
});
