// RST_STREAM NO_ERROR before END_STREAM is a reset, after it a normal end (RFC 9113 §8.1; Envoy's
// onStreamClose resets a stream unless remote_end_stream_). Node's HTTP/2 ends a stream's readable side
// either way, as if the body were whole. Upstream: an HTTP/2 origin that cuts its response so fails as a
// remote reset (503 UR before the head, the client's stream reset after it, retried by `reset`), and one
// that ends its response, then resets to stop the upload, is passed on whole. Downstream: an HTTP/2
// client that cuts its upload so never has it forwarded as whole, directly or after an async filter.
// Any other RST_STREAM code a peer sends is a remote reset too (UR), save those nghttp2 and Node send
// themselves (PROTOCOL_ERROR and the like), which stay UC.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { realTimers, type Timers } from '../../src/proxy/http/router.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { telemetryConfig } from '../telemetry/drive-filter.ts';
import { connectRaw, FrameType, frame, headers as headersFrame, serveRawH2 } from './h2-frames.ts';
import { cla, cluster, hcm, listener, push, rawExchange, routeConfig, startProxy } from './harness.ts';

const { NGHTTP2_NO_ERROR } = http2.constants;

/** The fault delay of the `delayPort` chain: it runs out only when a test runs it out. */
const DELAY_MS = 400;
const delaysOut = new Map<object, () => void>();
const timers: Timers = {
  set: (fn, ms) => {
    if (ms !== DELAY_MS) return realTimers.set(fn, ms);
    const h = {};
    delaysOut.set(h, fn);
    return h;
  },
  clear: (h) => {
    if (!delaysOut.delete(h as object)) realTimers.clear(h);
  },
};

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

let env: Awaited<ReturnType<typeof startProxy>>;
let port: number;
let delayPort: number;
let origin: http2.Http2Server;
let h1: http.Server;
/** A raw HTTP/2 origin: each request's HEADERS is answered with `rawReply(id)`, in one write. */
let raw: net.Server;
let rawReply: (id: number) => Buffer = () => Buffer.alloc(0);
let logDir: string;
let logFile: string;
/** Requests the HTTP/2 origin got, by path. */
const hits = new Map<string, number>();
/** What the upstreams saw of each upload, by `h1` or `h2` and path: its body, whether its end came, whether it closed. */
const uploads = new Map<string, { bytes: number; ended: boolean; closed: boolean }>();

/**
 * Resets `stream` with RST_STREAM NO_ERROR alone. Node's stream.close(NO_ERROR) on a stream still being
 * written ends it first (END_STREAM, then the reset); destroy() without an error sends the reset alone.
 */
function resetNoError(stream: http2.ServerHttp2Stream): void {
  stream.destroy();
}

before(async () => {
  logDir = mkdtempSync(path.join(tmpdir(), 'or-h2-rst-no-error-'));
  logFile = path.join(logDir, 'access.log');
  origin = http2.createServer();
  origin.on('stream', (stream, h) => {
    stream.on('error', () => {});
    const p = String(h[':path']);
    const n = (hits.get(p) ?? 0) + 1;
    hits.set(p, n);
    if (p.startsWith('/cut-body')) {
      stream.respond({ ':status': 200 });
      stream.write('part;', () => setImmediate(resetNoError, stream));
    } else if (p === '/cut-head' || (p === '/retry-cut-head' && n === 1)) {
      resetNoError(stream);
    } else if (p === '/retry-cut-head') {
      stream.respond({ ':status': 200 });
      stream.end('second try');
    } else if (p === '/whole-then-reset') {
      // The whole response, then RST_STREAM NO_ERROR to stop the upload still coming (RFC 9113 §8.1).
      stream.once('data', () => {
        stream.respond({ ':status': 200 });
        stream.end('whole response', () => stream.close(NGHTTP2_NO_ERROR));
      });
    } else if (p.startsWith('/upload')) {
      const seen = { bytes: 0, ended: false, closed: false };
      uploads.set(`h2${p}`, seen);
      stream.on('data', (c: Buffer) => (seen.bytes += c.length));
      // An end of the readable side counts only if it was END_STREAM: Node ends it on a reset too, after 'aborted'.
      let aborted = false;
      stream.on('aborted', () => (aborted = true));
      stream.on('end', () => (seen.ended = !aborted));
      stream.on('close', () => (seen.closed = true));
    } else stream.respond({ ':status': 404 }, { endStream: true });
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  h1 = http.createServer((req, res) => {
    const seen = { bytes: 0, ended: false, closed: false };
    uploads.set(`h1${req.url}`, seen);
    req.on('data', (c: Buffer) => (seen.bytes += c.length));
    req.on('end', () => (seen.ended = true));
    res.on('close', () => (seen.closed = true));
    // Never answers: only a complete body (its end) or the proxy's cancel shows.
  });
  await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
  raw = net.createServer((s) => serveRawH2(s, (type, id) => type === FrameType.HEADERS && s.write(rawReply(id))));
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  env = await startProxy({ metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'api', LABELS: { app: 'api' } }, timers });
  const router = { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } };
  const stats = { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'destination', workload: { workload: 'api', namespace: 'shop', labels: {} }, metrics: false, access_log: { path: logFile, encoding: 'JSON' } }) };
  const delay = {
    name: 'envoy.filters.http.fault',
    typed_config: { '@type': TypeUrl.HttpFault, delay: { fixed_delay: { nanos: DELAY_MS * 1_000_000 }, percentage: { numerator: 100, denominator: 'HUNDRED' } } },
  };
  const routes = routeConfig('r', [
    { domains: ['h2'], routes: [{ path: '/retry-cut-head', cluster: 'origin' }, { prefix: '/', cluster: 'origin' }] },
    { domains: ['h1'], routes: [{ prefix: '/', cluster: 'h1' }] },
    { domains: ['mirror'], routes: [{ prefix: '/', cluster: 'origin' }] },
    { domains: ['raw'], routes: [{ prefix: '/', cluster: 'raw' }] },
    { domains: ['raw-refused-retry'], routes: [{ prefix: '/', cluster: 'raw' }] },
  ]) as unknown as { virtual_hosts: { routes: { route: Record<string, unknown> }[] }[] };
  const retried = routes.virtual_hosts[0]?.routes[0];
  if (retried) retried.route['retry_policy'] = { retry_on: 'reset', num_retries: { value: 1 } };
  const refusedRetried = routes.virtual_hosts[4]?.routes[0];
  if (refusedRetried) refusedRetried.route['retry_policy'] = { retry_on: 'refused-stream', num_retries: { value: 1 } };
  const mirrored = routes.virtual_hosts[2]?.routes[0];
  if (mirrored) mirrored.route['request_mirror_policies'] = [{ cluster: 'h1', runtime_fraction: { default_value: { numerator: 100, denominator: 'HUNDRED' } } }];
  push(env.proxy, [
    cluster('origin', { http2: true }),
    cla('origin', [{ port: (origin.address() as net.AddressInfo).port }]),
    cluster('h1'),
    cla('h1', [{ port: (h1.address() as net.AddressInfo).port }]),
    cluster('raw', { http2: true }),
    cla('raw', [{ port: (raw.address() as net.AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { http_filters: [stats, router] }) }]),
    listener('0.0.0.0_8443', 8443, [{ filter: hcm('r', { http_filters: [stats, delay, router] }) }]),
    routes as never,
  ]);
  port = await env.port('0.0.0.0_8080');
  delayPort = await env.port('0.0.0.0_8443');
});

after(async () => {
  await env.close();
  origin.close();
  h1.closeAllConnections();
  h1.close();
  raw.close();
  rmSync(logDir, { recursive: true, force: true });
});

/** The access log line of the request for `p` (JSON, Istio's default fields), once written. */
async function logLine(p: string): Promise<Record<string, unknown>> {
  let line: Record<string, unknown> | undefined;
  await until(`the access log line for ${p}`, () => {
    const lines = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : [];
    line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['path'] === p);
    return line !== undefined;
  });
  return line as Record<string, unknown>;
}

interface Answer {
  status: number | undefined;
  body: string;
  /** 'end' came and the stream closed with NO_ERROR: what a Node client takes for a whole response. */
  whole: boolean;
  rstCode: number | undefined;
}

/** A request over HTTP/2 to the proxy; `upload` sends one chunk of body and leaves it open. */
function exchange(p: string, upload = false, authority = 'h2'): Promise<Answer> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  return new Promise((resolve) => {
    const req = session.request({ ':method': upload ? 'POST' : 'GET', ':path': p, ':authority': authority }, { endStream: !upload });
    if (upload) req.write('first chunk of an upload that goes on');
    const a: Answer = { status: undefined, body: '', whole: false, rstCode: undefined };
    let ended = false;
    req.on('response', (h) => (a.status = Number(h[':status'])));
    req.on('data', (c: Buffer) => (a.body += c.toString()));
    req.on('end', () => (ended = true));
    req.on('error', () => {});
    req.on('close', () => {
      a.rstCode = req.rstCode;
      a.whole = ended && req.rstCode === NGHTTP2_NO_ERROR;
      session.close();
      resolve(a);
    });
  });
}

test('upstream RST_STREAM NO_ERROR after part of the body: the client gets the head and the part, then a reset; logged UR', async () => {
  const a = await exchange('/cut-body');
  assert.equal(a.status, 200);
  assert.equal(a.body, 'part;');
  assert.equal(a.whole, false, `the cut body never reads as whole (rstCode ${a.rstCode})`);
  const line = await logLine('/cut-body');
  assert.equal(line['response_code'], 200);
  assert.equal(line['response_flags'], 'UR');
  assert.equal(line['response_code_details'], 'upstream_reset_after_response_started{remote_reset}');
  assert.equal(line['bytes_sent'], 5);
});

test('the same to an HTTP/1.1 client: the chunk that came and no last chunk, then the connection closes', async () => {
  const out = await rawExchange(port, 'GET /cut-body-h1 HTTP/1.1\r\nHost: h2\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(out.endsWith('\r\n\r\n5\r\npart;\r\n'), JSON.stringify(out));
});

test('upstream RST_STREAM NO_ERROR before the head: 503 UR, remote reset', async () => {
  const a = await exchange('/cut-head');
  assert.equal(a.status, 503);
  assert.equal(a.body, 'upstream connect error or disconnect/reset before headers. reset reason: remote reset');
  const line = await logLine('/cut-head');
  assert.equal(line['response_flags'], 'UR');
  assert.equal(line['response_code_details'], 'upstream_reset_before_response_started{remote_reset}');
});

test('retry_on reset retries it: the second try answers', async () => {
  const a = await exchange('/retry-cut-head');
  assert.deepEqual([a.status, a.body, a.whole], [200, 'second try', true]);
  assert.equal(hits.get('/retry-cut-head'), 2);
});

test('a whole response, then RST_STREAM NO_ERROR while the request body still streams: the response passes whole', async () => {
  const a = await exchange('/whole-then-reset', true);
  assert.equal(a.status, 200);
  assert.equal(a.body, 'whole response');
  const line = await logLine('/whole-then-reset');
  assert.equal(line['response_code'], 200);
  assert.doesNotMatch(String(line['response_flags']), /U[RC]/);
  assert.equal(line['bytes_sent'], 'whole response'.length);
});

/** A POST on a raw connection: its head, 1000 bytes of body, and (reset()) RST_STREAM NO_ERROR without END_STREAM. */
async function rawUpload(p: number, target: string, authority: string): Promise<{ reset(): void; close(): void }> {
  const raw = await connectRaw(p);
  raw.socket.write(headersFrame(1, { ':method': 'POST', ':scheme': 'http', ':path': target, ':authority': authority }, false));
  raw.socket.write(frame(FrameType.DATA, 0, 1, Buffer.alloc(1000, 'a')));
  const rst = Buffer.alloc(4);
  rst.writeUInt32BE(NGHTTP2_NO_ERROR);
  return { reset: () => raw.socket.write(frame(FrameType.RST_STREAM, 0, 1, rst)), close: () => raw.socket.destroy() };
}

for (const [authority, upstream] of [
  ['h1', 'an HTTP/1.1 upstream'],
  ['h2', 'an HTTP/2 upstream'],
] as const) {
  test(`a client's RST_STREAM NO_ERROR mid-upload: ${upstream} has the request cancelled, never ended as whole`, async () => {
    const target = `/upload-${authority}`;
    const up = await rawUpload(port, target, authority);
    try {
      const seen = (): { bytes: number; ended: boolean; closed: boolean } | undefined => uploads.get(`${authority}${target}`);
      await until('the upstream has part of the body', () => (seen()?.bytes ?? 0) > 0);
      up.reset();
      await until('the upstream request is cancelled', () => seen()?.closed === true);
      assert.equal(seen()?.ended, false, 'the upstream never saw the body end');
      await until('nothing left in flight', () => env.proxy.inflight === 0);
    } finally {
      up.close();
    }
  });

  test(`the same while an async filter decides: ${upstream} never gets the cut body as whole`, async () => {
    const target = `/upload-delayed-${authority}`;
    const armed = delaysOut.size;
    const up = await rawUpload(delayPort, target, authority);
    try {
      await until('the fault delay holds the request', () => delaysOut.size > armed);
      up.reset();
      // Give the reset time to arrive, then let the filter go on as if it had not come.
      await new Promise((r) => setTimeout(r, 100));
      for (const [h, fn] of [...delaysOut]) {
        delaysOut.delete(h);
        fn();
      }
      await until('nothing left in flight', () => env.proxy.inflight === 0);
      await new Promise((r) => setTimeout(r, 100));
      const seen = uploads.get(`${authority}${target}`);
      assert.ok(seen === undefined || !seen.ended, `not forwarded, or never ended (${JSON.stringify(seen)})`);
    } finally {
      up.close();
    }
  });
}

test("a client's RST_STREAM NO_ERROR mid-upload on a mirrored route: the mirror never gets the cut body as a whole request", async () => {
  const up = await rawUpload(port, '/upload-mirrored', 'mirror');
  try {
    await until('the upstream has part of the body', () => (uploads.get('h2/upload-mirrored')?.bytes ?? 0) > 0);
    up.reset();
    await until('the upstream request is cancelled', () => uploads.get('h2/upload-mirrored')?.closed === true);
    await until('nothing left in flight', () => env.proxy.inflight === 0);
    await new Promise((r) => setTimeout(r, 100));
    const shadow = uploads.get('h1/upload-mirrored');
    assert.ok(shadow === undefined || !shadow.ended, `no copy, or one never ended (${JSON.stringify(shadow)})`);
  } finally {
    up.close();
  }
});

/** The raw origin's answer: HEADERS 200 (and a DATA frame, if `part`), then RST_STREAM `code`, in one write. */
function resetWith(code: number, part?: string): (id: number) => Buffer {
  const rst = Buffer.alloc(4);
  rst.writeUInt32BE(code);
  return (id) =>
    Buffer.concat([
      ...(part === undefined ? [] : [frame(FrameType.HEADERS, 0x4, id, Buffer.from([0x88])), frame(FrameType.DATA, 0, id, Buffer.from(part))]),
      frame(FrameType.RST_STREAM, 0, id, rst),
    ]);
}

const rxResets = (): number => env.proxy.clusters.get('raw')?.resilience.upstream_rq_rx_reset ?? 0;

// Envoy's onStreamClose: any reset from the peer is RemoteReset (streamResetReasonToResponseFlag: UR),
// counted in upstream_rq_rx_reset by its pool (onStreamReset).
for (const [name, code] of [
  ['INTERNAL_ERROR', http2.constants.NGHTTP2_INTERNAL_ERROR],
  ['CANCEL', http2.constants.NGHTTP2_CANCEL],
] as const) {
  test(`upstream RST_STREAM ${name} before the head: 503 UR remote_reset, counted in upstream_rq_rx_reset`, async () => {
    rawReply = resetWith(code);
    const before = rxResets();
    const a = await exchange(`/rst-${name}-head`, false, 'raw');
    assert.equal(a.status, 503);
    assert.equal(a.body, 'upstream connect error or disconnect/reset before headers. reset reason: remote reset');
    const line = await logLine(`/rst-${name}-head`);
    assert.equal(line['response_flags'], 'UR');
    assert.equal(line['response_code_details'], 'upstream_reset_before_response_started{remote_reset}');
    assert.equal(rxResets(), before + 1);
    assert.equal(env.proxy.clusters.get('raw')?.stats.upstream_rq_rx_reset.value, rxResets());
  });

  test(`upstream RST_STREAM ${name} after part of the body: the client's stream reset, logged UR after the head`, async () => {
    rawReply = resetWith(code, 'part;');
    const a = await exchange(`/rst-${name}-body`, false, 'raw');
    assert.equal(a.status, 200);
    assert.equal(a.whole, false);
    const line = await logLine(`/rst-${name}-body`);
    assert.equal(line['response_flags'], 'UR');
    assert.equal(line['response_code_details'], 'upstream_reset_after_response_started{remote_reset}');
  });
}

test('upstream RST_STREAM REFUSED_STREAM: 503 UR remote_refused_stream_reset, not an rx_reset (Envoy: RemoteRefusedStreamReset)', async () => {
  rawReply = resetWith(http2.constants.NGHTTP2_REFUSED_STREAM);
  const before = rxResets();
  const a = await exchange('/rst-refused', false, 'raw');
  assert.equal(a.status, 503);
  assert.equal(a.body, 'upstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset');
  const line = await logLine('/rst-refused');
  assert.equal(line['response_flags'], 'UR');
  assert.equal(line['response_code_details'], 'upstream_reset_before_response_started{remote_refused_stream_reset}');
  assert.equal(rxResets(), before);
});

test("upstream RST_STREAM PROTOCOL_ERROR stays UC: Node closes a stream nghttp2 reset itself (a bad header) with it too", async () => {
  rawReply = resetWith(http2.constants.NGHTTP2_PROTOCOL_ERROR);
  const before = rxResets();
  const a = await exchange('/rst-protocol', false, 'raw');
  assert.equal(a.status, 503);
  const line = await logLine('/rst-protocol');
  assert.equal(line['response_flags'], 'UC');
  assert.equal(line['response_code_details'], 'upstream_reset_before_response_started{connection_termination}');
  assert.equal(rxResets(), before);
});

/** The raw origin's answer: GOAWAY `code` with last-stream-id 0 (the stream never processed), then a 200 on the next try. */
function goawayOnce(code: number): (id: number) => Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(code, 4);
  let tries = 0;
  return (id) => (tries++ === 0 ? frame(FrameType.GOAWAY, 0, 0, payload) : frame(FrameType.HEADERS, 0x5, id, Buffer.from([0x88])));
}

// Envoy's onGoAway drains the connection whatever the code, and nghttp2 closes the streams above
// last-stream-id with REFUSED_STREAM. Node destroys a session whose GOAWAY carries an error before that.
for (const [name, code] of [
  ['NO_ERROR', http2.constants.NGHTTP2_NO_ERROR],
  ['INTERNAL_ERROR', http2.constants.NGHTTP2_INTERNAL_ERROR],
] as const) {
  test(`upstream GOAWAY ${name} below the stream: 503 UR remote_refused_stream_reset`, async () => {
    rawReply = goawayOnce(code);
    const a = await exchange(`/goaway-${name}`, false, 'raw');
    assert.equal(a.status, 503);
    assert.equal(a.body, 'upstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset');
    const line = await logLine(`/goaway-${name}`);
    assert.equal(line['response_flags'], 'UR');
    assert.equal(line['response_code_details'], 'upstream_reset_before_response_started{remote_refused_stream_reset}');
  });

  test(`upstream GOAWAY ${name} below the stream: retried by refused-stream on a new connection`, async () => {
    rawReply = goawayOnce(code);
    const a = await exchange(`/goaway-${name}-retried`, false, 'raw-refused-retry');
    assert.equal(a.status, 200);
  });
}
