// Review of the HTTP/2 downstream served on Node's server stream (h2-server.ts, no compat layer): what
// Node's compat request and response did for the proxy and must still happen. HEAD, 204 and 304 end
// their streams; gRPC trailers-only, trailers, bidirectional streaming and cancellation; back-pressure
// both ways; client resets before and after the head, mid-upload and while an async filter decides
// (logged, upstream cancelled, a cut body never passed on as whole); local replies; connection-specific
// response headers and repeated trailers from an upstream; 100-continue on the tunnel; request trailers
// that arrive while an async filter decides; an HTTP/2 upstream's abort (h2-connection.ts) resets a cut
// upload without ending it first.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { realTimers, type Timers } from '../../src/proxy/http/router.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { telemetryConfig } from '../telemetry/drive-filter.ts';
import { makeCa } from './certs.ts';
import { connectRaw, FrameType, frame, headers as headersFrame } from './h2-frames.ts';
import { cla, closedPort, cluster, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

const MB = 1024 * 1024;

/** Resolves once `ok()` holds; rejects with `what` after `ms`. */
async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The fault delay of the `delayPort` chain. */
const DELAY_MS = 400;
/** Fault delays armed and run out so far, and those still armed (neither run out nor disarmed). */
let delaysArmed = 0;
let delaysRunOut = 0;
const delaysOut = new Map<object, () => void>();
/**
 * The proxy's timers: real, but for the fault delays, which run out only when a test runs them out
 * (`runDelays`), so a test waits for the delay itself, never for time.
 */
const timers: Timers = {
  set: (fn, ms) => {
    if (ms !== DELAY_MS) return realTimers.set(fn, ms);
    delaysArmed++;
    const h = {};
    delaysOut.set(h, fn);
    return h;
  },
  clear: (h) => {
    if (!delaysOut.delete(h as object)) realTimers.clear(h);
  },
};

/** Runs out every fault delay still armed. */
function runDelays(): void {
  for (const [h, fn] of [...delaysOut]) {
    delaysOut.delete(h);
    delaysRunOut++;
    fn();
  }
}

let env: Awaited<ReturnType<typeof startProxy>>;
let port: number;
let faultPort: number;
let delayPort: number;
let logDir: string;
let logFile: string;
let h1: http.Server;
let h1Port: number;
let raw: net.Server;
let h2up: http2.Http2Server;
const h2upSessions = new Set<http2.ServerHttp2Session>();

/** What the HTTP/1.1 upstream saw of each request, by path: aborted (closed before its response ended) or not. */
const h1Seen = new Map<string, { aborted: boolean; closed: boolean; bodyBytes: number; trailers?: Record<string, string> }>();
/** The gRPC upstream's streams, by path: closed, and with what RST code. */
const h2Seen = new Map<string, { closed: boolean; rstCode?: number; aborted: boolean; ended?: boolean; trailers?: http2.IncomingHttpHeaders; bodyBytes: number }>();
/** The big response's upstream: bytes written, and whether a write was refused (the proxy stopped reading). */
const big = { written: 0, blocked: false, done: false };
const BIG = 5 * MB;
/** The slow upstream reading a big request: bytes received so far, and whether it is reading. */
const slowReader = { received: 0, stream: undefined as http2.ServerHttp2Stream | undefined };

before(async () => {
  logDir = mkdtempSync(path.join(tmpdir(), 'or-h2-review-'));
  logFile = path.join(logDir, 'access.log');
  h1 = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const seen = { aborted: false, closed: false, bodyBytes: 0 } as { aborted: boolean; closed: boolean; bodyBytes: number; trailers?: Record<string, string> };
    h1Seen.set(url, seen);
    res.on('close', () => {
      seen.closed = true;
      if (!res.writableFinished) seen.aborted = true;
    });
    req.on('data', (c: Buffer) => {
      seen.bodyBytes += c.length;
    });
    req.on('end', () => {
      seen.trailers = req.trailers as Record<string, string>;
    });
    if (url === '/head') {
      // For HEAD, Node's server sends the head with its length and no body.
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 11 });
      res.end('hello world');
    } else if (url === '/204') {
      res.writeHead(204, { 'x-kind': 'no-content' });
      res.end();
    } else if (url === '/304') {
      res.writeHead(304, { etag: '"v1"' });
      res.end();
    } else if (url.startsWith('/hang')) {
      // Never answers: only the proxy's cancel ends it.
    } else if (url === '/partial') {
      res.writeHead(200, { 'content-length': 1_000_000 });
      res.write(Buffer.alloc(10_000, 'p'));
      // ... and the rest never comes.
    } else if (url === '/echo-trailers') {
      req.on('end', () => res.end(JSON.stringify({ bodyBytes: seen.bodyBytes, trailers: req.trailers })));
    } else {
      req.on('end', () => res.end(JSON.stringify({ url, bodyBytes: seen.bodyBytes })));
    }
  });
  await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
  h1Port = (h1.address() as net.AddressInfo).port;

  // An HTTP/1.1 app answering with every connection-specific field HTTP/2 forbids.
  raw = net.createServer((s) => {
    s.on('error', () => {});
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      const line = buf.slice(0, buf.indexOf('\r\n'));
      buf = '';
      if (line.includes('/hop-chunked')) {
        s.write(
          'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Private\r\nKeep-Alive: timeout=5, max=100\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c, websocket\r\nTransfer-Encoding: chunked\r\nX-Private: secret\r\nTE: gzip\r\nContent-Type: text/plain\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
        );
      } else if (line.includes('/hop-length')) {
        s.write('HTTP/1.1 200 OK\r\nCONNECTION: Keep-Alive\r\nKEEP-ALIVE: timeout=5\r\nUPGRADE: h2c\r\nContent-Length: 5\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\nhello');
      } else if (line.includes('/dup-trailer')) {
        // A trailer repeated that HTTP/2 (Node) takes once only.
        s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: etag\r\n\r\n5\r\nhello\r\n0\r\nETag: "a"\r\nETag: "b"\r\nX-Sum: 1\r\n\r\n');
      } else if (line.includes('/dup-length')) {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello');
      } else {
        s.write('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      }
    });
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));

  h2up = http2.createServer();
  h2up.on('session', (s) => {
    h2upSessions.add(s);
    s.on('close', () => h2upSessions.delete(s));
  });
  h2up.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const p = String(headers[':path']);
    const seen = { closed: false, aborted: false, bodyBytes: 0 } as { closed: boolean; rstCode?: number; aborted: boolean; ended?: boolean; trailers?: http2.IncomingHttpHeaders; bodyBytes: number };
    h2Seen.set(p, seen);
    // `ended`: the client's END_STREAM arrived. Node also ends the readable side of a stream the client
    // resets, but after 'aborted'; an END_STREAM before the reset has ended it by then, read or not.
    stream.on('end', () => {
      if (!seen.aborted) seen.ended = true;
    });
    stream.on('aborted', () => {
      seen.aborted = true;
      if ((stream as unknown as { _readableState: { ended: boolean } })._readableState.ended) seen.ended = true;
    });
    stream.on('trailers', (t) => {
      seen.trailers = t;
    });
    stream.on('close', () => {
      seen.closed = true;
      seen.rstCode = stream.rstCode;
    });
    const grpcHead = { ':status': 200, 'content-type': 'application/grpc' };
    if (p === '/svc.S/TrailersOnly') {
      stream.respond({ ...grpcHead, 'grpc-status': '5', 'grpc-message': 'not found' }, { endStream: true });
      stream.resume();
    } else if (p === '/svc.S/Unary') {
      stream.on('data', (c: Buffer) => {
        seen.bodyBytes += c.length;
      });
      stream.on('end', () => {
        stream.respond(grpcHead, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'fine', 'x-bin-count': String(seen.bodyBytes) }));
        stream.end(grpcFrame('reply'));
      });
    } else if (p === '/svc.S/Bidi') {
      stream.respond(grpcHead, { waitForTrailers: true });
      stream.on('data', (c: Buffer) => stream.write(c));
      stream.on('end', () => stream.end());
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    } else if (p === '/svc.S/Forever') {
      // A server stream that sends a message every 10 ms until it is cancelled.
      stream.respond(grpcHead, { waitForTrailers: true });
      stream.resume();
      const t = setInterval(() => {
        if (!stream.destroyed && !stream.closed) stream.write(grpcFrame('tick'));
      }, 10);
      stream.on('close', () => clearInterval(t));
    } else if (p === '/h2/big') {
      // 5 MB, written as the proxy takes it (HTTP/2 flow control: no kernel buffer hides a proxy that reads on).
      stream.respond({ ':status': 200, 'content-length': BIG });
      stream.resume();
      const chunk = Buffer.alloc(64 * 1024, 'b');
      const pump = (): void => {
        while (big.written < BIG) {
          big.written += chunk.length;
          if (!stream.write(chunk)) {
            big.blocked = true;
            stream.once('drain', pump);
            return;
          }
        }
        big.done = true;
        stream.end();
      };
      pump();
    } else if (p === '/h2/slow-read') {
      // Reads nothing until the test says so.
      slowReader.stream = stream;
      stream.pause();
      stream.on('data', (c: Buffer) => {
        slowReader.received += c.length;
      });
      stream.on('end', () => {
        stream.respond({ ':status': 200 });
        stream.end(JSON.stringify({ received: slowReader.received }));
      });
    } else if (p.startsWith('/svc.S/Hang')) {
      stream.on('data', (c: Buffer) => {
        seen.bodyBytes += c.length;
      });
    } else if (p === '/h2/head') {
      stream.respond({ ':status': 200, 'content-length': 11, 'content-type': 'text/plain' }, { endStream: true });
    } else {
      stream.respond({ ':status': 404 }, { endStream: true });
    }
  });
  await new Promise<void>((r) => h2up.listen(0, '127.0.0.1', r));

  env = await startProxy({ metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'api', LABELS: { app: 'api' } }, timers });
  const router = { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } };
  const stats = { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'destination', workload: { workload: 'api', namespace: 'shop', labels: {} }, metrics: false, access_log: { path: logFile, encoding: 'JSON' } }) };
  const abort = {
    name: 'envoy.filters.http.fault',
    typed_config: { '@type': TypeUrl.HttpFault, abort: { http_status: 418, percentage: { numerator: 100, denominator: 'HUNDRED' } }, headers: [{ name: 'x-chaos', present_match: true }] },
  };
  const grpcAbort = {
    name: 'envoy.filters.http.fault',
    typed_config: { '@type': TypeUrl.HttpFault, abort: { grpc_status: 14, percentage: { numerator: 100, denominator: 'HUNDRED' } }, headers: [{ name: 'x-grpc-chaos', present_match: true }] },
  };
  const delay = {
    name: 'envoy.filters.http.fault',
    typed_config: { '@type': TypeUrl.HttpFault, delay: { fixed_delay: { nanos: DELAY_MS * 1_000_000 }, percentage: { numerator: 100, denominator: 'HUNDRED' } } },
  };
  push(env.proxy, [
    cluster('h1'),
    cla('h1', [{ port: h1Port }]),
    cluster('raw'),
    cla('raw', [{ port: (raw.address() as net.AddressInfo).port }]),
    cluster('grpc', { http2: true }),
    cla('grpc', [{ port: (h2up.address() as net.AddressInfo).port }]),
    cluster('refused'),
    cla('refused', [{ port: await closedPort() }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { http_filters: [stats, router] }) }]),
    listener('0.0.0.0_9898', 9898, [{ filter: hcm('f', { http_filters: [abort, grpcAbort, router] }) }]),
    listener('0.0.0.0_8443', 8443, [{ filter: hcm('d', { http_filters: [stats, delay, router] }) }]),
    routeConfig('r', [
      { domains: ['h1'], routes: [{ prefix: '/', cluster: 'h1' }] },
      { domains: ['raw'], routes: [{ prefix: '/', cluster: 'raw' }] },
      { domains: ['grpc'], routes: [{ prefix: '/', cluster: 'grpc' }] },
      { domains: ['uf'], routes: [{ prefix: '/', cluster: 'refused' }] },
      { domains: ['direct'], routes: [{ path: '/nc', direct: { status: 204, body: '' } }, { prefix: '/', direct: { status: 200, body: 'direct body' } }] },
    ]),
    routeConfig('f', [
      { domains: ['h1'], routes: [{ prefix: '/', cluster: 'h1' }] },
      { domains: ['grpc'], routes: [{ prefix: '/', cluster: 'grpc' }] },
    ]),
    routeConfig('d', [
      { domains: ['h1'], routes: [{ prefix: '/', cluster: 'h1' }] },
      { domains: ['grpc'], routes: [{ prefix: '/', cluster: 'grpc' }] },
    ]),
  ]);
  port = await env.port('0.0.0.0_8080');
  faultPort = await env.port('0.0.0.0_9898');
  delayPort = await env.port('0.0.0.0_8443');
});

after(async () => {
  await env.close();
  h1.closeAllConnections();
  h1.close();
  raw.close();
  for (const s of h2upSessions) s.destroy();
  h2up.close();
  rmSync(logDir, { recursive: true, force: true });
});

function grpcFrame(text: string): Buffer {
  const msg = Buffer.from(text);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

function logged(): Record<string, unknown>[] {
  if (!existsSync(logFile)) return [];
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function connect(p = port): http2.ClientHttp2Session {
  const s = http2.connect(`http://127.0.0.1:${p}`);
  s.on('error', () => {});
  return s;
}

interface Answer {
  status: number | undefined;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  body: Buffer;
  /** HEADERS frames the client saw for this stream, with their END_STREAM flag. */
  frames: { kind: 'headers' | 'trailers'; endStream: boolean }[];
  rstCode: number | undefined;
  error: Error | undefined;
  ended: boolean;
}

/** One request on `session`; resolves when the stream closes (or rejects after `ms`: a hang). */
function exchange(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, opts: { body?: Buffer | string; trailers?: http2.OutgoingHttpHeaders; trailersSent?: () => void; ms?: number } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const hasBody = opts.body !== undefined || opts.trailers !== undefined;
    const req = session.request(headers, { endStream: !hasBody, ...(opts.trailers ? { waitForTrailers: true } : {}) });
    const a: Answer = { status: undefined, headers: {}, trailers: undefined, body: Buffer.alloc(0), frames: [], rstCode: undefined, error: undefined, ended: false };
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      req.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`stream ${String(headers[':path'])} did not close within ${opts.ms ?? 5000} ms (status ${a.status}, ${Buffer.concat(chunks).length} body bytes)`));
    }, opts.ms ?? 5000);
    req.on('response', (h, flags) => {
      a.status = Number(h[':status']);
      a.headers = h;
      a.frames.push({ kind: 'headers', endStream: (flags & 0x1) !== 0 });
    });
    req.on('trailers', (t, flags) => {
      a.trailers = t;
      a.frames.push({ kind: 'trailers', endStream: (flags & 0x1) !== 0 });
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      a.ended = true;
    });
    req.on('error', (e) => {
      a.error = e;
    });
    req.on('close', () => {
      clearTimeout(timer);
      a.body = Buffer.concat(chunks);
      a.rstCode = req.rstCode;
      resolve(a);
    });
    if (opts.trailers) {
      const t = opts.trailers;
      req.on('wantTrailers', () => {
        req.sendTrailers(t);
        opts.trailersSent?.();
      });
    }
    if (hasBody) req.end(opts.body);
  });
}

/**
 * A POST on a raw connection whose body is cut by RST_STREAM CANCEL without END_STREAM before it (Node's
 * client sends END_STREAM first when it closes a stream it is still writing).
 */
async function rawUpload(p: number, path: string, authority: string): Promise<{ reset(): void; close(): void }> {
  const raw = await connectRaw(p);
  raw.socket.write(headersFrame(1, { ':method': 'POST', ':scheme': 'http', ':path': path, ':authority': authority }, false));
  raw.socket.write(frame(FrameType.DATA, 0, 1, Buffer.alloc(1000, 'a')));
  const rst = Buffer.alloc(4);
  rst.writeUInt32BE(http2.constants.NGHTTP2_CANCEL);
  return { reset: () => raw.socket.write(frame(FrameType.RST_STREAM, 0, 1, rst)), close: () => raw.socket.destroy() };
}

const get = (authority: string, p: string, method = 'GET'): http2.OutgoingHttpHeaders => ({ ':method': method, ':path': p, ':authority': authority });
const grpcHeaders = (p: string, extra: http2.OutgoingHttpHeaders = {}): http2.OutgoingHttpHeaders => ({ ':method': 'POST', ':path': p, ':authority': 'grpc', 'content-type': 'application/grpc', te: 'trailers', ...extra });

// --- HEAD, 204, 304 ---------------------------------------------------------------------------

test('HEAD over HTTP/2: the head with its content-length, no body, the stream ends cleanly (HTTP/1.1 and HTTP/2 upstreams)', async () => {
  const session = connect();
  try {
    for (const [authority, p] of [
      ['h1', '/head'],
      ['grpc', '/h2/head'],
    ] as const) {
      const a = await exchange(session, get(authority, p, 'HEAD'));
      assert.equal(a.error, undefined, `${p}: no stream error`);
      assert.equal(a.status, 200, p);
      assert.equal(a.headers['content-length'], '11', `${p}: the length of the body a GET would get`);
      assert.equal(a.body.length, 0, `${p}: no body`);
      assert.equal(a.ended, true, `${p}: the stream ended (END_STREAM), not reset`);
      assert.equal(a.rstCode, http2.constants.NGHTTP2_NO_ERROR, p);
    }
  } finally {
    session.close();
  }
});

test('204 and 304 over HTTP/2: head only, END_STREAM, no hang, the session stays usable', async () => {
  const session = connect();
  try {
    const nc = await exchange(session, get('h1', '/204'));
    assert.equal(nc.status, 204);
    assert.equal(nc.headers['x-kind'], 'no-content');
    assert.equal(nc.body.length, 0);
    assert.equal(nc.ended, true);
    assert.equal(nc.error, undefined);
    const nm = await exchange(session, { ...get('h1', '/304'), 'if-none-match': '"v1"' });
    assert.equal(nm.status, 304);
    assert.equal(nm.headers.etag, '"v1"');
    assert.equal(nm.body.length, 0);
    assert.equal(nm.ended, true);
    assert.equal(nm.error, undefined);
    const after = await exchange(session, get('h1', '/after'));
    assert.equal(after.status, 200, 'the same session still serves');
  } finally {
    session.close();
  }
});

test("HEAD answered by the proxy itself (direct response, route not found) has the reply's head and no body, and the stream is not reset", async () => {
  const session = connect();
  try {
    const direct = await exchange(session, get('direct', '/x', 'HEAD'));
    assert.equal(direct.error, undefined, `no stream error (${direct.error?.message})`);
    assert.equal(direct.status, 200);
    assert.equal(direct.body.length, 0);
    assert.equal(direct.ended, true);
    const nr = await exchange(session, get('nowhere.example', '/x', 'HEAD'));
    assert.equal(nr.error, undefined, `no stream error (${nr.error?.message})`);
    assert.equal(nr.status, 404);
    assert.equal(nr.ended, true);
    const uf = await exchange(session, get('uf', '/x', 'HEAD'));
    assert.equal(uf.error, undefined, `no stream error (${uf.error?.message})`);
    assert.equal(uf.status, 503);
    assert.equal(uf.body.length, 0);
    assert.equal(uf.ended, true);
    assert.equal(uf.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    const nc = await exchange(session, get('direct', '/nc'));
    assert.equal(nc.status, 204);
    assert.equal(nc.ended, true);
    assert.equal(nc.error, undefined);
  } finally {
    session.close();
  }
});

// --- gRPC -------------------------------------------------------------------------------------

test("gRPC trailers-only: the upstream's grpc-status comes in one HEADERS frame with END_STREAM", async () => {
  const session = connect();
  try {
    const a = await exchange(session, grpcHeaders('/svc.S/TrailersOnly'), { body: grpcFrame('q') });
    assert.equal(a.status, 200);
    assert.equal(a.headers['grpc-status'], '5');
    assert.equal(a.headers['grpc-message'], 'not found');
    assert.deepEqual(a.frames, [{ kind: 'headers', endStream: true }], 'one HEADERS frame, END_STREAM on it');
    assert.equal(a.body.length, 0);
    assert.equal(a.error, undefined);
  } finally {
    session.close();
  }
});

test('gRPC normal answer: head, message and trailers; the request body and its trailers reach the upstream', async () => {
  const session = connect();
  try {
    const a = await exchange(session, grpcHeaders('/svc.S/Unary'), { body: grpcFrame('hello'), trailers: { 'x-req-trailer': 'rt' } });
    assert.equal(a.status, 200);
    assert.equal(a.headers['grpc-status'], undefined, 'not trailers-only');
    assert.deepEqual(a.body, grpcFrame('reply'));
    assert.equal(a.trailers?.['grpc-status'], '0');
    assert.equal(a.trailers?.['grpc-message'], 'fine');
    assert.equal(a.trailers?.['x-bin-count'], String(grpcFrame('hello').length));
    assert.deepEqual(a.frames, [
      { kind: 'headers', endStream: false },
      { kind: 'trailers', endStream: true },
    ]);
    assert.equal(h2Seen.get('/svc.S/Unary')?.trailers?.['x-req-trailer'], 'rt');
  } finally {
    session.close();
  }
});

test('gRPC bidirectional streaming: each message echoed before the client half-closes, then trailers', async () => {
  const session = connect();
  try {
    const req = session.request(grpcHeaders('/svc.S/Bidi'));
    req.on('error', () => {});
    const got: Buffer[] = [];
    let trailers: http2.IncomingHttpHeaders | undefined;
    req.on('trailers', (t) => {
      trailers = t;
    });
    req.on('data', (c: Buffer) => got.push(c));
    for (let i = 0; i < 5; i++) {
      const before = Buffer.concat(got).length;
      req.write(grpcFrame(`m${i}`));
      await until(`echo of message ${i} while the request is open`, () => Buffer.concat(got).length >= before + grpcFrame(`m${i}`).length, 3000);
    }
    req.end();
    await new Promise((r) => req.once('close', r));
    assert.deepEqual(Buffer.concat(got), Buffer.concat([0, 1, 2, 3, 4].map((i) => grpcFrame(`m${i}`))));
    assert.equal(trailers?.['grpc-status'], '0');
  } finally {
    session.close();
  }
});

test('a gRPC client cancelling (RST_STREAM CANCEL) mid-response cancels the upstream stream; the proxy serves on', async () => {
  const session = connect();
  try {
    const req = session.request(grpcHeaders('/svc.S/Forever'));
    req.on('error', () => {});
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    await until('some messages arrive', () => bytes > 50);
    req.close(http2.constants.NGHTTP2_CANCEL);
    await until('the upstream stream is reset', () => h2Seen.get('/svc.S/Forever')?.closed === true, 3000);
    assert.notEqual(h2Seen.get('/svc.S/Forever')?.rstCode, http2.constants.NGHTTP2_NO_ERROR, 'reset, not ended');
    await until('nothing left in flight', () => env.proxy.inflight === 0, 3000);
    const next = await exchange(session, grpcHeaders('/svc.S/TrailersOnly'), { body: grpcFrame('q') });
    assert.equal(next.headers['grpc-status'], '5', 'the same session still serves');
  } finally {
    session.close();
  }
});

// --- back-pressure ----------------------------------------------------------------------------

test('a slow HTTP/2 client reading 5 MB: the upstream is paused while it does not read, and the body arrives whole', { timeout: 60_000 }, async () => {
  big.written = 0;
  big.blocked = false;
  big.done = false;
  const session = connect();
  try {
    const req = session.request(get('grpc', '/h2/big'), { endStream: true });
    req.on('error', () => {});
    await new Promise((r) => req.once('response', r));
    req.pause();
    await until('the upstream is refused a write (the proxy stopped reading it)', () => big.blocked, 10_000);
    await sleep(300);
    const ahead = big.written;
    // Two flow-control windows (64 KiB each) and the streams' buffers: far below the 5 MB.
    assert.ok(ahead < 1 * MB, `the upstream got ${ahead} bytes out while the client read nothing (bounded)`);
    assert.equal(big.done, false);
    let received = 0;
    let maxAhead = 0;
    req.on('data', (c: Buffer) => {
      received += c.length;
      maxAhead = Math.max(maxAhead, big.written - received);
      // Read slowly: a pause after each chunk.
      req.pause();
      setTimeout(() => req.resume(), 1);
    });
    req.resume();
    await new Promise((r) => req.once('end', r));
    assert.equal(received, BIG, 'every byte');
    assert.ok(maxAhead < 1 * MB, `the upstream was never more than ${maxAhead} bytes ahead of the client`);
  } finally {
    session.close();
  }
});

test('a large HTTP/2 request body to a slow upstream: the client is held back, the body arrives whole', { timeout: 60_000 }, async () => {
  slowReader.received = 0;
  slowReader.stream = undefined;
  const session = connect();
  try {
    const req = session.request({ ':method': 'POST', ':path': '/h2/slow-read', ':authority': 'grpc' });
    req.on('error', () => {});
    let sent = 0;
    const chunk = Buffer.alloc(64 * 1024, 'u');
    const TOTAL = 5 * MB;
    let response = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      response += c;
    });
    const pump = (): void => {
      while (sent < TOTAL) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
    await until('the upstream has the request', () => slowReader.stream !== undefined);
    await sleep(500);
    // The upstream has read nothing: the client can only be a bounded distance ahead.
    assert.equal(slowReader.received, 0);
    assert.ok(sent < 1 * MB, `the client got ${sent} bytes out while the upstream read none (bounded)`);
    (slowReader.stream as http2.ServerHttp2Stream | undefined)?.resume();
    await new Promise((r) => req.once('close', r));
    assert.equal(slowReader.received, TOTAL);
    assert.equal(JSON.parse(response).received, TOTAL);
  } finally {
    session.close();
  }
});

// --- client resets ----------------------------------------------------------------------------

test('a client that resets before the response head: the upstream request is cancelled, the request is logged, the proxy serves on', async () => {
  const session = connect();
  try {
    const req = session.request(get('h1', '/hang'), { endStream: true });
    req.on('error', () => {});
    await until('the upstream has the request', () => h1Seen.has('/hang'));
    req.close(http2.constants.NGHTTP2_CANCEL);
    await until('the upstream request is cancelled', () => h1Seen.get('/hang')?.aborted === true, 3000);
    await until('nothing left in flight', () => env.proxy.inflight === 0, 3000);
    await until('the access log has it', () => logged().some((l) => l['path'] === '/hang'), 3000);
    const line = logged().find((l) => l['path'] === '/hang');
    assert.match(String(line?.['response_flags']), /DC/, 'downstream connection termination');
    const next = await exchange(session, get('h1', '/next'));
    assert.equal(next.status, 200);
  } finally {
    session.close();
  }
});

test('a client that resets after part of the body: the upstream request is cancelled and the request is logged', async () => {
  const session = connect();
  try {
    const req = session.request(get('h1', '/partial'), { endStream: true });
    req.on('error', () => {});
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    await until('part of the body', () => bytes >= 10_000);
    req.close(http2.constants.NGHTTP2_CANCEL);
    await until('the upstream request is cancelled', () => h1Seen.get('/partial')?.aborted === true, 3000);
    await until('nothing left in flight', () => env.proxy.inflight === 0, 3000);
    await until('the access log has it', () => logged().some((l) => l['path'] === '/partial'), 3000);
    const line = logged().find((l) => l['path'] === '/partial');
    assert.equal(line?.['response_code'], 200);
    assert.match(String(line?.['response_flags']), /DR|DC/, 'a downstream reset');
    const next = await exchange(session, get('h1', '/next2'));
    assert.equal(next.status, 200);
  } finally {
    session.close();
  }
});

test('a client that resets mid-upload: the upstream request is cancelled, never ended as if the body were whole', async () => {
  const up = await rawUpload(port, '/reset-upload', 'h1');
  try {
    await until('the upstream has part of the body', () => (h1Seen.get('/reset-upload')?.bodyBytes ?? 0) > 0);
    up.reset();
    await until('the upstream request is cancelled', () => h1Seen.get('/reset-upload')?.aborted === true, 3000);
    assert.equal(h1Seen.get('/reset-upload')?.trailers, undefined, 'the upstream never saw the body end');
    await until('nothing left in flight', () => env.proxy.inflight === 0, 3000);
    await until('the access log has it', () => logged().some((l) => l['path'] === '/reset-upload'), 3000);
    assert.match(String(logged().find((l) => l['path'] === '/reset-upload')?.['response_flags']), /DC/);
  } finally {
    up.close();
  }
});

test('the same on an HTTP/2 upstream: the upstream stream is reset (CANCEL)', async () => {
  const up = await rawUpload(port, '/svc.S/HangUpload', 'grpc');
  try {
    await until('the upstream has part of the body', () => (h2Seen.get('/svc.S/HangUpload')?.bodyBytes ?? 0) > 0);
    up.reset();
    await until('the upstream stream closes', () => h2Seen.get('/svc.S/HangUpload')?.closed === true, 3000);
    assert.equal(h2Seen.get('/svc.S/HangUpload')?.rstCode, http2.constants.NGHTTP2_CANCEL);
    await until('nothing left in flight', () => env.proxy.inflight === 0, 3000);
  } finally {
    up.close();
  }
});

// Not in h2-server.ts: the HTTP/2 upstream's abort (h2-connection.ts). Node's client stream.close(CANCEL)
// on a stream still being written ends it first (END_STREAM), then resets it: the upstream would see the
// cut body end as if whole, for an instant, before the reset. The abort sends RST_STREAM CANCEL alone.
test('an HTTP/2 upstream never sees END_STREAM on a body the client cut', async () => {
  const up = await rawUpload(port, '/svc.S/HangUpload2', 'grpc');
  try {
    await until('the upstream has part of the body', () => (h2Seen.get('/svc.S/HangUpload2')?.bodyBytes ?? 0) > 0);
    up.reset();
    await until('the upstream stream closes', () => h2Seen.get('/svc.S/HangUpload2')?.closed === true, 3000);
    assert.notEqual(h2Seen.get('/svc.S/HangUpload2')?.ended, true, 'the upstream never saw END_STREAM');
  } finally {
    up.close();
  }
});

// The same cut from an HTTP/1.1 client (a Content-Length body, no trailers to wait for): the upstream
// stream is idle when the abort comes, where close(CANCEL) would send END_STREAM at once.
test('an HTTP/2 upstream never sees END_STREAM on a body an HTTP/1.1 client cut (its connection closed mid-body)', async () => {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  try {
    s.write('POST /svc.S/HangUpload3 HTTP/1.1\r\nHost: grpc\r\nContent-Length: 100000\r\n\r\n');
    s.write(Buffer.alloc(1000, 'a'));
    await until('the upstream has part of the body', () => (h2Seen.get('/svc.S/HangUpload3')?.bodyBytes ?? 0) >= 1000);
    s.destroy();
    await until('the upstream stream closes', () => h2Seen.get('/svc.S/HangUpload3')?.closed === true, 3000);
    assert.notEqual(h2Seen.get('/svc.S/HangUpload3')?.ended, true, 'the upstream never saw END_STREAM');
    assert.equal(h2Seen.get('/svc.S/HangUpload3')?.rstCode, http2.constants.NGHTTP2_CANCEL);
  } finally {
    s.destroy();
  }
});

test('a client that resets while an async filter is still deciding: no upstream request is left behind', async () => {
  const session = connect(delayPort);
  try {
    const before = logged().length;
    // An upstream that never answers: only a cancel would end its request.
    const [armed, runOut] = [delaysArmed, delaysRunOut];
    const req = session.request(get('h1', '/hang-during-filter'), { endStream: true });
    req.on('error', () => {});
    await until('the fault delay holds the request', () => delaysArmed > armed);
    req.close(http2.constants.NGHTTP2_CANCEL);
    // The reset ends the delay before it runs out (Envoy's onDestroy): the request is never forwarded and left open.
    await until('the fault delay over', () => delaysOut.size === 0, 3000);
    assert.equal(delaysRunOut, runOut, 'the delay was disarmed by the reset, not run out');
    await until('nothing left in flight', () => env.proxy.inflight === 0, 3000);
    const seen = h1Seen.get('/hang-during-filter');
    assert.ok(seen === undefined || seen.aborted, `the upstream never got it, or got it cancelled (${JSON.stringify(seen)})`);
    await until('the access log has it', () => logged().length > before, 3000);
  } finally {
    session.close();
  }
});

test('a POST whose client resets mid-body during an async filter is never forwarded, neither whole nor for ever', async () => {
  const [armed, runOut] = [delaysArmed, delaysRunOut];
  const up = await rawUpload(delayPort, '/reset-mid-body', 'h1');
  try {
    await until('the fault delay holds the request', () => delaysArmed > armed);
    up.reset();
    // The reset ends the delay before it runs out.
    await until('the fault delay over', () => delaysOut.size === 0, 3000);
    assert.equal(delaysRunOut, runOut, 'the delay was disarmed by the reset, not run out');
    await until('nothing left in flight', () => env.proxy.inflight === 0, 3000);
    const seen = h1Seen.get('/reset-mid-body');
    // Not forwarded, or cancelled: no upstream request waiting for ever on a body whose stream is gone.
    assert.ok(seen === undefined || seen.aborted, `the upstream never got it, or got it cancelled (${JSON.stringify(seen)})`);
  } finally {
    up.close();
  }
});

// --- local replies ----------------------------------------------------------------------------

test('a 300 KB POST answered before any upstream reads it (404 NR, fault abort 418, gRPC abort) ends its stream and leaves nothing in flight', async () => {
  const body = Buffer.alloc(300_000, 1);
  const session = connect();
  const faults = connect(faultPort);
  try {
    const nr = await exchange(session, get('nowhere.example', '/big-post', 'POST'), { body });
    assert.equal(nr.status, 404);
    const fi = await exchange(faults, { ...get('h1', '/big-post', 'POST'), 'x-chaos': '1' }, { body });
    assert.equal(fi.status, 418);
    const g = await exchange(faults, grpcHeaders('/svc.S/Unary', { 'x-grpc-chaos': '1' }), { body });
    assert.equal(g.headers['grpc-status'], '14');
    await until('nothing left in flight', () => env.proxy.inflight === 0, 3000);
  } finally {
    session.close();
    faults.close();
  }
});

test('local replies on HTTP/2: 404 NR, 503 UF, a fault abort and a gRPC abort have their heads and bodies', async () => {
  const session = connect();
  const faults = connect(faultPort);
  try {
    const nr = await exchange(session, get('nowhere.example', '/x'));
    assert.equal(nr.status, 404);
    assert.equal(nr.headers['x-envoy-response-flags'], 'NR');
    assert.equal(nr.headers['content-length'], '0');
    assert.equal(nr.body.length, 0);
    assert.equal(nr.ended, true);
    const uf = await exchange(session, { ...get('uf', '/x', 'POST') }, { body: 'payload' });
    assert.equal(uf.status, 503);
    assert.equal(uf.headers['x-envoy-response-flags'], 'UF');
    assert.equal(uf.headers['content-type'], 'text/plain');
    assert.equal(uf.body.toString(), 'upstream connect error or disconnect/reset before headers. reset reason: connection failure');
    assert.equal(uf.headers['content-length'], String(uf.body.length));
    assert.equal(uf.ended, true);
    const fi = await exchange(faults, { ...get('h1', '/x'), 'x-chaos': '1' });
    assert.equal(fi.status, 418);
    assert.equal(fi.headers['x-envoy-response-flags'], 'FI');
    assert.equal(fi.body.toString(), 'fault filter abort');
    const g = await exchange(faults, grpcHeaders('/svc.S/Unary', { 'x-grpc-chaos': '1' }), { body: grpcFrame('x') });
    assert.equal(g.status, 200);
    assert.equal(g.headers['content-type'], 'application/grpc');
    assert.equal(g.headers['grpc-status'], '14');
    assert.equal(g.headers['grpc-message'], 'fault filter abort');
    assert.deepEqual(g.frames, [{ kind: 'headers', endStream: true }], 'trailers-only');
    const guf = await exchange(session, { ...grpcHeaders('/svc.S/Unary'), ':authority': 'uf' }, { body: grpcFrame('x') });
    assert.equal(guf.headers['grpc-status'], '14');
    assert.deepEqual(guf.frames, [{ kind: 'headers', endStream: true }], 'trailers-only');
  } finally {
    session.close();
    faults.close();
  }
});

// --- connection-specific response fields ------------------------------------------------------

test('an upstream head with connection, keep-alive, proxy-connection, upgrade, transfer-encoding and te: dropped, the response delivered', async () => {
  const session = connect();
  try {
    for (const p of ['/hop-chunked', '/hop-length']) {
      const a = await exchange(session, get('raw', p));
      assert.equal(a.error, undefined, `${p}: no stream error (${a.error?.message})`);
      assert.equal(a.status, 200, p);
      assert.equal(a.body.toString(), 'hello', p);
      assert.equal(a.ended, true, p);
      for (const h of ['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'transfer-encoding', 'te', 'http2-settings']) assert.equal(a.headers[h], undefined, `${p}: ${h}`);
    }
    const next = await exchange(session, get('h1', '/after-hop'));
    assert.equal(next.status, 200, 'the proxy and the session are still up');
  } finally {
    session.close();
  }
});

// Not from this change (the compat response threw there too): Node's sendTrailers throws for a repeated
// single-value field, inside the stream's 'wantTrailers' event, where nothing catches it.
test('an upstream trailer HTTP/2 takes once only, sent twice (ETag), never throws in the proxy: that stream ends, the proxy serves on', async () => {
  const session = connect();
  try {
    const a = await exchange(session, { ...get('raw', '/dup-trailer'), te: 'trailers' });
    assert.equal(a.status, 200);
    assert.equal(a.body.toString(), 'hello');
    await until('nothing left in flight', () => env.proxy.inflight === 0, 3000);
    const next = await exchange(session, get('h1', '/after-dup-trailer'));
    assert.equal(next.status, 200, 'the proxy is still up');
  } finally {
    session.close();
  }
});

// The HTTP/1.1 client accepts a repeated, equal Content-Length (RFC 9110 §8.6) and passes it on as one:
// as two values Node's HTTP/2 server refused it (ERR_HTTP2_HEADER_SINGLE_VALUE) and reset the stream.
test('an upstream repeating a single-value field (Content-Length twice, equal) does not drop the HTTP/2 stream', async () => {
  const session = connect();
  try {
    const a = await exchange(session, get('raw', '/dup-length'));
    assert.equal(a.error, undefined, `no stream error (${a.error?.message})`);
    assert.equal(a.status, 200);
    assert.equal(a.body.toString(), 'hello');
  } finally {
    session.close();
  }
});

// --- request trailers during an async filter -------------------------------------------------

/**
 * Sends a request with trailers on `session` (a `delayPort` connection) and runs its fault delay out only
 * once the trailers are in at the proxy: a GET sent after them on the same connection, held by the delay
 * too, shows the proxy has read every frame before it (a connection's frames are read in order, and
 * nghttp2 sends the trailers, queued first, before the GET's HEADERS).
 */
async function withTrailersInDuringDelay(session: http2.ClientHttp2Session, send: (trailersSent: () => void) => Promise<Answer>): Promise<Answer> {
  const armed = delaysArmed;
  let sent = false;
  const answer = send(() => {
    sent = true;
  });
  await until('the request held by the fault delay, its trailers sent', () => delaysArmed > armed && sent);
  const later = exchange(session, get('h1', '/after-trailers'));
  await until('a request sent after the trailers held by the fault delay too', () => delaysArmed > armed + 1);
  assert.equal(delaysOut.size, 2, 'both still held');
  runDelays();
  assert.equal((await later).status, 200);
  return answer;
}

test('request trailers that arrive while an async filter (a fault delay) decides still reach the upstream', async () => {
  const session = connect(delayPort);
  try {
    // The whole request, body and trailers, is in before the delay runs out.
    const a = await withTrailersInDuringDelay(session, (trailersSent) =>
      exchange(session, { ':method': 'POST', ':path': '/echo-trailers', ':authority': 'h1', te: 'trailers', trailer: 'x-checksum' }, { body: 'abc', trailers: { 'x-checksum': 'c0ffee' }, trailersSent }),
    );
    assert.equal(a.status, 200);
    const echoed = JSON.parse(a.body.toString()) as { bodyBytes: number; trailers: Record<string, string> };
    assert.equal(echoed.bodyBytes, 3);
    assert.equal(echoed.trailers['x-checksum'], 'c0ffee');
    const g = await withTrailersInDuringDelay(session, (trailersSent) => exchange(session, grpcHeaders('/svc.S/Unary'), { body: grpcFrame('late'), trailers: { 'x-req-trailer': 'during-filter' }, trailersSent }));
    assert.equal(g.trailers?.['grpc-status'], '0');
    assert.equal(h2Seen.get('/svc.S/Unary')?.trailers?.['x-req-trailer'], 'during-filter');
  } finally {
    session.close();
  }
});

// --- the tunnel -------------------------------------------------------------------------------

const rootSecret = (ca: string): TypedAny => ({ '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca } } });

test('the tunnel: Expect: 100-continue is answered 100, then the body reaches the app; another expectation gets 417', async (t) => {
  const ca = await makeCa();
  const server = await startProxy({ nodeId: 'sidecar~127.0.0.1~podinfo.podinfo~podinfo.svc.cluster.local' });
  t.after(() => server.close());
  server.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/podinfo/sa/podinfo'));
  push(server.proxy, [
    cluster('inbound|9898||'),
    cla('inbound|9898||', [{ port: h1Port }]),
    listener('virtualInbound', 15006, [{ port: 9898, filter: hcm('inbound|9898||') }]),
    listener('connect_terminate', 15008, []),
    routeConfig('inbound|9898||', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'inbound|9898||' }] }]),
    rootSecret(ca.ca),
  ]);
  const tunnelPort = await server.port('connect_terminate');
  const cert = await ca.issue('spiffe://cluster.local/ns/frontend/sa/web');
  const session = http2.connect(`https://127.0.0.1:${tunnelPort}`, { ...cert, ca: ca.ca, checkServerIdentity: () => undefined });
  session.on('error', () => {});
  t.after(() => session.close());
  const head = { ':method': 'POST', ':path': '/tunnel-continue', ':authority': 'podinfo.podinfo:9898', 'x-outrigger-target-port': '9898' };
  const result = await new Promise<{ continued: boolean; status: number; body: string }>((resolve, reject) => {
    const req = session.request({ ...head, expect: '100-continue' });
    let continued = false;
    let status = 0;
    let body = '';
    const timer = setTimeout(() => reject(new Error(`no answer (continued ${continued}, status ${status})`)), 5000);
    req.on('continue', () => {
      continued = true;
      req.end('sent after 100');
    });
    req.on('response', (h) => {
      status = Number(h[':status']);
    });
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('error', reject);
    req.on('close', () => {
      clearTimeout(timer);
      resolve({ continued, status, body });
    });
  });
  assert.equal(result.continued, true, 'the tunnel answered 100');
  assert.equal(result.status, 200);
  assert.equal(JSON.parse(result.body).bodyBytes, 'sent after 100'.length);
  const refused = await exchange(session, { ...head, ':path': '/tunnel-expect', expect: 'other' });
  assert.equal(refused.status, 417);
  assert.equal(h1Seen.has('/tunnel-expect'), false, 'never forwarded');
});
