// istio_request_bytes / istio_response_bytes through a real proxy: as Istio's stats filter records
// them (the downstream's wire bytes, heads and chunk framing included), not the bodies alone. HTTP/1.1
// on both sides, sent and read as raw bytes so the test knows what crossed the wire.
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, rawExchange, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { telemetryConfig } from './drive-filter.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;

const reply = JSON.stringify({ message: 'greetings from podinfo' });

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  req.resume();
  req.on('end', () => {
    if (req.url === '/continue') {
      res.writeHead(202, { 'content-type': 'text/plain', 'content-length': '8' }).end('accepted');
      return;
    }
    if (req.url === '/chunked') {
      // No length: the proxy frames its response by chunks, and ends it with trailers.
      res.writeHead(201, { 'content-type': 'text/plain', trailer: 'x-checksum' });
      res.write('first part, ');
      res.addTrailers({ 'x-checksum': 'abc' });
      res.end('second part');
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.setHeader('content-length', Buffer.byteLength(reply));
    res.end(reply);
  });
}

const stats: TypedAny = {
  ...hcm('r'),
  http_filters: [
    { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'source', workload: { workload: 'sleep', namespace: 'shop', labels: { app: 'sleep' } }, metrics: true }) },
    { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
  ],
};

before(async () => {
  backend = await echoBackend(handler);
  env = await startProxy();
  push(env.proxy, [cluster('web'), cla('web', [{ port: backend.port }]), listener('outbound', 15001, [{ filter: stats }]), routeConfig('r', [{ domains: ['web'], routes: [{ prefix: '/', cluster: 'web' }] }])]);
});

after(async () => {
  await env.close();
  backend.server.closeAllConnections();
  backend.server.close();
});

/** A series' value from the proxy's /stats/prometheus: the line of `metric` whose labels include `label`. */
async function series(metric: string, label: string): Promise<number> {
  const text = (await request(env.admin, '/stats/prometheus')).body;
  const line = text.split('\n').find((l) => l.startsWith(`${metric}{`) && l.includes(label));
  assert.ok(line, `${metric} with ${label}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check().catch(() => false))) await new Promise((r) => setTimeout(r, 20));
}

test('a request and its response count their heads as well as their bodies', async () => {
  const body = 'name=podinfo&replicas=2';
  const sent = `POST /api/echo HTTP/1.1\r\nHost: web\r\nUser-Agent: curl/8.5.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
  const got = await rawExchange(await env.port('outbound'), sent);
  assert.match(got, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(got.endsWith(reply));
  await until(async () => (await series('istio_request_bytes_count', 'response_code="200"')) === 1);
  assert.equal(await series('istio_request_bytes_sum', 'response_code="200"'), sent.length, 'every byte the client sent: request line, fields, body');
  // The codec counts the head it writes, its own fields (date, connection) included.
  assert.ok(got.includes('\r\nconnection: close\r\n'));
  assert.equal(await series('istio_response_bytes_sum', 'response_code="200"'), got.length, 'status line, fields and body: every byte the client got');
});

test("the proxy's own reply (404 NR) counts its head and body too", async () => {
  const got = await rawExchange(await env.port('outbound'), 'GET / HTTP/1.1\r\nHost: nowhere\r\nConnection: close\r\n\r\n');
  assert.match(got, /^HTTP\/1\.1 404 Not Found\r\n/);
  await until(async () => (await series('istio_response_bytes_count', 'response_code="404"')) === 1);
  assert.equal(await series('istio_response_bytes_sum', 'response_code="404"'), got.length);
});

test('a chunked request and a chunked response count their chunk framing and trailers too, as Envoy meters every byte', async () => {
  const sent = 'POST /chunked HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\nConnection: close\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\nx-sum: 12\r\n\r\n';
  const got = await rawExchange(await env.port('outbound'), sent);
  assert.match(got, /^HTTP\/1\.1 201 Created\r\n/);
  assert.match(got, /\r\ntransfer-encoding: chunked\r\n/);
  assert.match(got, /\r\n0\r\nx-checksum: abc\r\n\r\n$/);
  await until(async () => (await series('istio_request_bytes_count', 'response_code="201"')) === 1);
  assert.equal(await series('istio_request_bytes_sum', 'response_code="201"'), sent.length, 'chunk lines, last chunk and trailers as well as head and data');
  assert.equal(await series('istio_response_bytes_sum', 'response_code="201"'), got.length);
});

test("Expect: 100-continue: the interim 100 counts in the response bytes (Envoy's wire bytes sent), the response code stays the final one", async () => {
  // Envoy's HCM answers the expectation itself (proxy_100_continue off, as Istio leaves it): encode1xxHeaders
  // writes `HTTP/1.1 100 Continue` through the codec, whose flushOutput meters it as wire bytes sent, the
  // meter istio_response_bytes reads. Only the final response sets %RESPONSE_CODE%.
  const body = 'payload';
  const sent = `POST /continue HTTP/1.1\r\nHost: web\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
  const got = await rawExchange(await env.port('outbound'), sent);
  assert.match(got, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 202 Accepted\r\n/);
  await until(async () => (await series('istio_response_bytes_count', 'response_code="202"')) === 1);
  assert.equal(await series('istio_requests_total', 'response_code="202"'), 1, 'one request, labelled with its final status');
  assert.equal(await series('istio_request_bytes_sum', 'response_code="202"'), sent.length);
  assert.equal(await series('istio_response_bytes_sum', 'response_code="202"'), got.length, 'the 100 Continue line and the final response: every byte the client got');
});
