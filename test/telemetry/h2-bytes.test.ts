// istio_request_bytes / istio_response_bytes for an HTTP/2 downstream through a real proxy, from real
// HTTP/2 clients (plain and gRPC): the bodies plus every field of the heads and trailers, name and
// value bytes, as the client sent them and as it got them (Envoy's HeaderMap byteSize; Node's HTTP/2
// does not tell the HPACK blocks and frame headers Envoy's codec meters). The access log's bytes stay
// the bodies alone, as Envoy's %BYTES_RECEIVED% / %BYTES_SENT%.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http2 from 'node:http2';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { telemetryConfig } from './drive-filter.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let h1: Awaited<ReturnType<typeof echoBackend>>;
let grpc: http2.Http2Server;
let port: number;
let dir: string;
let logFile: string;

const reply = JSON.stringify({ message: 'greetings from podinfo' });
/** A gRPC message: flag, 4-byte length, payload. */
const frame = (payload: string): Buffer => Buffer.concat([Buffer.from([0, 0, 0, 0, payload.length]), Buffer.from(payload)]);

const stats = (): TypedAny => ({
  ...hcm('r'),
  http_filters: [
    {
      name: 'istio.stats',
      typed_config: telemetryConfig({
        reporter: 'source',
        workload: { workload: 'sleep', namespace: 'shop', labels: { app: 'sleep' } },
        metrics: true,
        access_log: { path: logFile, encoding: 'TEXT', format: '%PROTOCOL% %RESPONSE_CODE% %BYTES_RECEIVED% %BYTES_SENT%\n' },
      }),
    },
    { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
  ],
});

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'or-h2-bytes-'));
  logFile = path.join(dir, 'access.log');
  h1 = await echoBackend((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/continue') res.statusCode = 202;
      res.end(reply);
    });
  });
  grpc = http2.createServer();
  grpc.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.resume();
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'OK' }));
      stream.end(frame('pong-pong'));
    });
  });
  await new Promise<void>((r) => grpc.listen(0, '127.0.0.1', r));
  env = await startProxy();
  push(env.proxy, [
    cluster('web'),
    cluster('grpc', { http2: true }),
    cla('web', [{ port: h1.port }]),
    cla('grpc', [{ port: (grpc.address() as net.AddressInfo).port }]),
    listener('outbound', 15001, [{ filter: stats() }]),
    routeConfig('r', [
      { domains: ['web'], routes: [{ prefix: '/', cluster: 'web' }] },
      { domains: ['grpc'], routes: [{ prefix: '/', cluster: 'grpc' }] },
    ]),
  ]);
  port = await env.port('outbound');
});

after(async () => {
  await env.close();
  h1.server.close();
  grpc.close();
  await rm(dir, { recursive: true, force: true });
});

/** A series' value from the proxy's /stats/prometheus: the line of `metric` whose labels include every one of `labels`. */
async function series(metric: string, ...labels: string[]): Promise<number> {
  const text = (await request(env.admin, '/stats/prometheus')).body;
  const line = text.split('\n').find((l) => l.startsWith(`${metric}{`) && labels.every((label) => l.includes(label)));
  assert.ok(line, `${metric} with ${labels.join(',')}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check().catch(() => false))) await new Promise((r) => setTimeout(r, 20));
}

/** Waits for the access log to have `line`: its bytes stay the bodies alone, as Envoy's %BYTES_RECEIVED% / %BYTES_SENT%. */
async function logged(line: string): Promise<void> {
  await until(async () => (await readFile(logFile, 'utf8')).split('\n').includes(line));
}

/** Name and value bytes of every field (repeated fields once per value), as a client sees a head. */
function fieldBytes(raw: readonly string[] | Record<string, unknown> | undefined): number {
  if (raw === undefined) return 0;
  if (Array.isArray(raw)) return raw.reduce((n, s) => n + Buffer.byteLength(s, 'latin1'), 0);
  let n = 0;
  for (const [k, v] of Object.entries(raw)) for (const one of Array.isArray(v) ? v : [v]) n += k.length + String(one).length;
  return n;
}

interface Seen {
  /** Fields and body bytes the client sent. */
  sent: number;
  /** Fields (head and trailers) and body bytes the client got. */
  got: number;
  status: number;
  body: Buffer;
}

/** One exchange on its own h2c session, counted from the client's side of it. */
function exchange(headers: http2.OutgoingHttpHeaders, body: Buffer | string | undefined, trailers?: http2.OutgoingHttpHeaders): Promise<Seen> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  return new Promise((resolve, reject) => {
    const req = session.request(headers, trailers ? { waitForTrailers: true } : { endStream: body === undefined });
    if (trailers) req.on('wantTrailers', () => req.sendTrailers(trailers));
    let got = 0;
    let status = 0;
    const chunks: Buffer[] = [];
    req.on('response', (h, _flags, raw: string[]) => {
      status = Number(h[':status']);
      got += fieldBytes(raw);
    });
    req.on('trailers', (_t, _flags, raw: string[]) => {
      got += fieldBytes(raw);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('end', () => {
      const b = Buffer.concat(chunks);
      const bodyLength = body === undefined ? 0 : Buffer.byteLength(body);
      const sent = fieldBytes(req.sentHeaders) + fieldBytes(req.sentTrailers) + bodyLength;
      session.close();
      resolve({ sent, got: got + b.length, status, body: b });
    });
    if (body !== undefined) req.end(body);
  });
}

test('HTTP/2: the request and the response count every field of their heads, as sent and as got, and their bodies', async () => {
  const body = 'name=podinfo&replicas=2';
  const seen = await exchange({ ':method': 'POST', ':path': '/api/echo', ':authority': 'web', 'user-agent': 'curl/8.5.0', 'content-type': 'application/x-www-form-urlencoded', accept: ['a/b', 'c/d'] }, body);
  assert.equal(seen.status, 200);
  assert.equal(seen.body.toString(), reply);
  const labels = ['request_protocol="http"', 'response_code="200"'];
  await until(async () => (await series('istio_request_bytes_count', ...labels)) === 1);
  // :method POST, :path, :authority, :scheme, the fields (each value of `accept` with its name), the body.
  assert.equal(await series('istio_request_bytes_sum', ...labels), seen.sent);
  assert.ok(seen.sent > body.length);
  // :status, the proxy's fields (date, content-type, x-envoy-upstream-service-time, ...), the body.
  assert.equal(await series('istio_response_bytes_sum', ...labels), seen.got);
  assert.ok(seen.got > reply.length);
  await logged(`HTTP/2 200 ${body.length} ${reply.length}`);
});

test('gRPC over HTTP/2: request trailers, response head, body and trailers all count', async () => {
  const msg = frame('ping');
  const seen = await exchange({ ':method': 'POST', ':path': '/echo.Echo/Ping', ':authority': 'grpc', 'content-type': 'application/grpc', te: 'trailers' }, msg, { 'x-checksum': 'abc' });
  assert.equal(seen.status, 200);
  assert.deepEqual(seen.body, frame('pong-pong'));
  const labels = ['request_protocol="grpc"', 'grpc_response_status="0"'];
  await until(async () => (await series('istio_request_bytes_count', ...labels)) === 1);
  assert.equal(await series('istio_request_bytes_sum', ...labels), seen.sent);
  // grpc-status and grpc-message travel in the trailers: they count with the head.
  assert.equal(await series('istio_response_bytes_sum', ...labels), seen.got);
  await logged(`HTTP/2 200 ${msg.length} ${frame('pong-pong').length}`);
});

test("the proxy's own reply (404 NR) over HTTP/2 counts its head's fields and its body", async () => {
  const seen = await exchange({ ':path': '/', ':authority': 'nowhere' }, undefined);
  assert.equal(seen.status, 404);
  const labels = ['request_protocol="http"', 'response_code="404"'];
  await until(async () => (await series('istio_response_bytes_count', ...labels)) === 1);
  assert.equal(await series('istio_request_bytes_sum', ...labels), seen.sent);
  assert.equal(await series('istio_response_bytes_sum', ...labels), seen.got);
});

test('HTTP/2 Expect: 100-continue: the interim 100 head counts with the response fields; the log keeps the final code and the body bytes', async () => {
  // Envoy's HCM answers the expectation itself with encode1xxHeaders; its HTTP/2 codec meters that HEADERS
  // frame as bytes sent, and %RESPONSE_CODE% / %BYTES_SENT% stay the final response's code and body.
  const body = 'expecting';
  let continued = false;
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  const seen = await new Promise<{ got: number; status: number }>((resolve, reject) => {
    const req = session.request({ ':method': 'PUT', ':path': '/continue', ':authority': 'web', expect: '100-continue' });
    let got = 0;
    let status = 0;
    req.on('continue', () => {
      continued = true;
      req.end(body);
    });
    req.on('response', (h, _flags, raw: string[]) => {
      status = Number(h[':status']);
      got += fieldBytes(raw);
    });
    req.on('data', (c: Buffer) => (got += c.length));
    req.on('error', reject);
    req.on('end', () => resolve({ got, status }));
  });
  session.close();
  assert.equal(continued, true, 'the client got its 100');
  assert.equal(seen.status, 202);
  await logged(`HTTP/2 202 ${body.length} ${reply.length}`);
  const labels = ['request_protocol="http"', 'response_code="202"'];
  await until(async () => (await series('istio_response_bytes_count', ...labels)) === 1);
  // The interim head's one field, `:status: 100`, counts as the final head's fields do.
  assert.equal(await series('istio_response_bytes_sum', ...labels), seen.got + ':status'.length + '100'.length);
});
