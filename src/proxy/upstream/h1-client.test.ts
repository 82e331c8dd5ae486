// The raw-socket HTTP/1.1 client against scripted servers on real sockets: each framing, interim
// responses, keep-alive reuse and its limits, request bodies (length, chunked, trailers), and what a
// broken or absent peer turns into (connect, reset or protocol failure, never a throw).
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { after, test } from 'node:test';
import { FakeClock, until } from '../../../test/resilience/fake-clock.ts';
import { makeCa } from '../../../test/proxy/certs.ts';
import { REFUSED_PEER_GRACE_MS, TUNNEL_SESSION_WINDOW, TUNNEL_STREAM_WINDOW } from '../tunnel/mesh-tls.ts';
import { H1Pool, MAX_RESPONSE_HEADERS } from './h1-client.ts';
import { H2Upstream } from './h2-upstream.ts';
import type { OutgoingHeaders, UpstreamError, UpstreamHead } from './upstream.ts';

interface Result {
  status: number;
  headers: OutgoingHeaders;
  body: string;
  trailers: OutgoingHeaders;
}

const servers: net.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** A server that answers each request with `reply(requestText, index)`; `requests` records what arrived and on which connection. */
async function scripted(reply: (req: string, n: number, socket: net.Socket) => string | null): Promise<{ port: number; requests: { text: string; conn: number }[] }> {
  const requests: { text: string; conn: number }[] = [];
  let conns = 0;
  const server = net.createServer((socket) => {
    const conn = ++conns;
    let buf = '';
    socket.on('data', (c) => {
      buf += c.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.slice(0, end + 4);
        let length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        let total = end + 4 + length;
        if (/\r\ntransfer-encoding: chunked/i.test(head)) {
          const last = buf.indexOf('\r\n0\r\n', end);
          const close = last < 0 ? -1 : buf.indexOf('\r\n\r\n', last + 2);
          if (close < 0) return;
          total = close + 4;
          length = 0;
        }
        if (buf.length < total) return;
        const text = buf.slice(0, total);
        buf = buf.slice(total);
        requests.push({ text, conn });
        const out = reply(text, requests.length - 1, socket);
        if (out !== null) socket.write(out, 'latin1');
      }
    });
    socket.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, requests };
}

function pool(port: number, over: Partial<ConstructorParameters<typeof H1Pool>[0]> = {}): H1Pool {
  return new H1Pool({ host: '127.0.0.1', port, connectTimeoutMs: 2000, maxConnections: 4, idleTimeoutMs: 0, maxRequestsPerConnection: 0, ...over });
}

const get = (over: Partial<UpstreamHead> = {}): UpstreamHead => ({ method: 'GET', path: '/p?q=1', authority: 'app.local', scheme: 'http', headers: { 'x-a': 'one', 'set-it': ['1', '2'] }, ...over });

function send(p: H1Pool, head: UpstreamHead, body: Readable | null = null): Promise<Result> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let headers: OutgoingHeaders = {};
    const chunks: Buffer[] = [];
    p.request(head, body, {
      onHead(s, h) {
        status = s;
        headers = h;
      },
      onData(c) {
        chunks.push(Buffer.from(c));
        return true;
      },
      onEnd(trailers) {
        resolve({ status, headers, body: Buffer.concat(chunks).toString(), trailers });
      },
      onError(err: UpstreamError) {
        reject(err);
      },
    });
  });
}


const ok = (body: string, extra = ''): string => `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n${extra}\r\n${body}`;

test('writes one head with host and every field, reads a Content-Length body, and reuses the connection', async () => {
  const s = await scripted(() => ok('hello', 'Set-Cookie: a=1\r\nset-cookie: b=2\r\n'));
  const p = pool(s.port);
  const first = await send(p, get());
  assert.equal(first.status, 200);
  assert.equal(first.body, 'hello');
  assert.deepEqual(first.headers['set-cookie'], ['a=1', 'b=2'], 'repeated fields keep every value, names lower-cased');
  await send(p, get());
  assert.equal(s.requests[0]?.text, 'GET /p?q=1 HTTP/1.1\r\nhost: app.local\r\nx-a: one\r\nset-it: 1\r\nset-it: 2\r\n\r\n');
  assert.equal(s.requests[1]?.conn, 1, 'the second request goes on the kept-alive connection');
  assert.equal(p.connections(), 1);
  await p.close();
});

test('a chunked response is decoded across reads, and its trailers reach the sink', async () => {
  const s = await scripted((_r, _n, socket) => {
    socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhel');
    setImmediate(() => socket.write('lo\r\n6\r\n world\r\n0\r\ngrpc-status: 0\r\nx-t: y\r\n\r\n'));
    return null;
  });
  const p = pool(s.port);
  const r = await send(p, get());
  assert.equal(r.body, 'hello world');
  assert.deepEqual(r.trailers, { 'grpc-status': '0', 'x-t': 'y' });
  await send(p, get());
  assert.equal(s.requests[1]?.conn, 1, 'reused after a chunked response');
  await p.close();
});

test('HEAD, 204 and 304 have no body whatever their Content-Length; 1xx interim responses are skipped', async () => {
  const s = await scripted((req) => {
    if (req.startsWith('HEAD')) return 'HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n';
    if (req.includes('/nc')) return 'HTTP/1.1 204 No Content\r\n\r\n';
    if (req.includes('/nm')) return 'HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n';
    return 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n' + ok('after');
  });
  const p = pool(s.port);
  assert.deepEqual([(await send(p, get({ method: 'HEAD' }))).body, (await send(p, get({ path: '/nc' }))).status, (await send(p, get({ path: '/nm' }))).status], ['', 204, 304]);
  const interim = await send(p, get());
  assert.deepEqual([interim.status, interim.body, interim.headers['link']], [200, 'after', undefined]);
  assert.equal(new Set(s.requests.map((r) => r.conn)).size, 1, 'bodiless responses leave the connection reusable');
  await p.close();
});

test('a response without length is read until the connection closes, which is then not reused', async () => {
  const s = await scripted((_r, _n, socket) => {
    socket.end('HTTP/1.1 200 OK\r\n\r\nuntil the end');
    return null;
  });
  const p = pool(s.port);
  assert.equal((await send(p, get())).body, 'until the end');
  assert.equal((await send(p, get())).body, 'until the end');
  assert.deepEqual(
    s.requests.map((r) => r.conn),
    [1, 2],
  );
  await p.close();
});

test('Connection: close, HTTP/1.0 and max requests per connection each end the connection after the response', async () => {
  const s = await scripted((req, n) => (req.includes('/close') ? ok('c', 'connection: close\r\n') : req.includes('/old') ? `HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\no` : ok(String(n))));
  const p = pool(s.port);
  await send(p, get({ path: '/close' }));
  await send(p, get({ path: '/old' }));
  await send(p, get());
  const limited = pool(s.port, { maxRequestsPerConnection: 2 });
  for (let i = 0; i < 3; i++) await send(limited, get());
  assert.deepEqual(
    s.requests.map((r) => r.conn),
    [1, 2, 3, 4, 4, 5],
  );
  await p.close();
  await limited.close();
});

test('request bodies: Content-Length as is, chunked without one, and trailers in the last chunk', async () => {
  const s = await scripted(() => ok('k'));
  const p = pool(s.port);
  await send(p, get({ method: 'POST', headers: { 'content-length': '4' } }), Readable.from([Buffer.from('ab'), Buffer.from('cd')]));
  await send(p, get({ method: 'POST', headers: {} }), Readable.from([Buffer.from('xyz')]));
  await send(p, get({ method: 'POST', headers: { 'content-length': '2', trailer: 'x-sum' }, trailers: () => ({ 'x-sum': '42' }) }), Readable.from([Buffer.from('hi')]));
  assert.match(s.requests[0]?.text ?? '', /content-length: 4\r\n\r\nabcd$/);
  assert.match(s.requests[1]?.text ?? '', /transfer-encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n$/);
  const trailered = s.requests[2]?.text ?? '';
  assert.doesNotMatch(trailered, /content-length/, 'a body that ends in trailers goes chunked, without its length');
  assert.match(trailered, /\r\n2\r\nhi\r\n0\r\nx-sum: 42\r\n\r\n$/);
  await p.close();
});

test('a response that ends before the request body is sent leaves the connection unused afterwards', async () => {
  const s = await scripted(() => null);
  const server = net.createServer((socket) => {
    socket.once('data', () => socket.write(ok('early')));
    socket.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const p = pool((server.address() as net.AddressInfo).port);
  const body = new PassThrough();
  body.write('part');
  const r = await send(p, get({ method: 'PUT', headers: { 'content-length': '100' } }), body);
  assert.equal(r.body, 'early');
  assert.equal(p.connections(), 0, 'a connection with request bytes still owed is closed');
  body.end();
  await p.close();
  void s;
});

test('broken responses are protocol failures and never throw', async () => {
  const cases: [string, string][] = [
    ['garbage\r\n\r\n', 'malformed response status line'],
    ['HTTP/1.1 200 OK\r\nbad header\r\n\r\n', 'malformed response header'],
    ['HTTP/1.1 200 OK\r\n folded: x\r\n\r\n', 'malformed response header'],
    ['HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n', 'invalid response content-length'],
    ['HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n', 'invalid response content-length'],
    ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n', 'invalid chunk size'],
    ['HTTP/1.1 101 Switching Protocols\r\n\r\n', 'unexpected 101 Switching Protocols'],
    ['HTTP/1.1 200 OK\r\nx-bad: a\x01b\r\ncontent-length: 0\r\n\r\n', 'malformed response header'],
    ['HTTP/1.1 200 OK\r\nx-bad: a\rb\r\ncontent-length: 0\r\n\r\n', 'malformed response header'],
    ['HTTP/1.1 600 Nope\r\ncontent-length: 0\r\n\r\n', 'malformed response status line'],
    ...['HTTP/1.2 200 OK', 'HTTP/1.1 20 OK', 'HTTP/1.1 2000 OK', 'HTTP/1.1  200 OK', 'HTTP/1.1 2x0 OK', 'HTTP/2 200 OK', 'http/1.1 200 OK', 'HTTP/1.1 099 Low'].map(
      (line): [string, string] => [`${line}\r\ncontent-length: 0\r\n\r\n`, 'malformed response status line'],
    ),
    [`HTTP/1.1 200 OK\r\nx: ${'a'.repeat(70 * 1024)}\r\n\r\n`, 'response head too large'],
  ];
  for (const [response, message] of cases) {
    const s = await scripted(() => response);
    const p = pool(s.port);
    await assert.rejects(send(p, get()), (err: UpstreamError) => err.failure === 'protocol' && err.message === message, message);
    await p.close();
  }
});

test('a response head of more than 100 fields is a protocol failure (Envoy\'s max_headers_count, 502 UPE); 100 pass', async () => {
  const fields = (n: number): string => Array.from({ length: n }, (_, i) => `x-f${i % 7}: ${i}\r\n`).join('');
  const many = await scripted(() => `HTTP/1.1 200 OK\r\n${fields(MAX_RESPONSE_HEADERS)}content-length: 2\r\n\r\nok`);
  const p = pool(many.port);
  try {
    await assert.rejects(send(p, get()), (err: UpstreamError) => err.failure === 'protocol' && err.message === 'too many response headers');
  } finally {
    await p.close();
  }
  const hundred = await scripted(() => `HTTP/1.1 200 OK\r\n${fields(MAX_RESPONSE_HEADERS - 1)}content-length: 2\r\n\r\nok`);
  const q = pool(hundred.port);
  const res = await send(q, get());
  assert.equal(res.body, 'ok');
  assert.equal((res.headers['x-f0'] as string[]).length, 15);
  await q.close();
});

/** Read through a variable, as the proxy reads every field name. */
const PROTO = '__proto__';

test('fields named as Object.prototype members (`__proto__`, `constructor`, `toString`) are own fields, as any other', async () => {
  const s = await scripted(() => 'HTTP/1.1 200 OK\r\n__proto__: p\r\nconstructor: c1\r\nconstructor: c2\r\ntoString: t\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n__proto__: tp\r\nvalueOf: v\r\n\r\n');
  const p = pool(s.port);
  const res = await send(p, get()).finally(() => p.close());
  assert.equal(res.body, 'ok');
  assert.equal(Object.getPrototypeOf(res.headers), Object.prototype, 'the map itself is untouched');
  assert.ok(Object.hasOwn(res.headers, '__proto__'));
  assert.equal(res.headers[PROTO], 'p');
  assert.deepEqual(res.headers['constructor'], ['c1', 'c2']);
  assert.equal(res.headers['tostring'], 't');
  assert.ok(Object.hasOwn(res.trailers, '__proto__'));
  assert.equal(res.trailers[PROTO], 'tp');
  assert.equal(res.trailers['valueof'], 'v');
});

test('status lines: a reason phrase is optional, and HTTP/1.0 closes the connection after its response', async () => {
  const s = await scripted((req) => (req.includes('/ten') ? 'HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n' : 'HTTP/1.1 204\r\n\r\n'));
  const p = pool(s.port);
  assert.equal((await send(p, get({ path: '/bare' }))).status, 204);
  assert.equal((await send(p, get({ path: '/bare' }))).status, 204);
  assert.equal(p.connections(), 1, 'an HTTP/1.1 204 without a reason keeps its connection');
  assert.equal((await send(p, get({ path: '/ten' }))).status, 200);
  await until(() => p.connections() === 0, 'the HTTP/1.0 connection is closed');
  await p.close();
});

test('both Content-Length and chunked: refused as a protocol error, as Envoy refuses it', async () => {
  const s = await scripted(() => 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
  const p = pool(s.port);
  await assert.rejects(send(p, get()), (err: UpstreamError) => err.failure === 'protocol' && /both content-length and transfer-encoding/.test(err.message));
  await p.close();
});

test('Keep-Alive: timeout=N keeps the connection (parked a second less than N); timeout=1 or less closes it', async () => {
  const s = await scripted((req) => (req.includes('/short') ? ok('s', 'keep-alive: timeout=1\r\n') : ok('l', 'keep-alive: timeout=3\r\n')));
  const p = pool(s.port, { idleTimeoutMs: 3_600_000 });
  await send(p, get({ path: '/short' }));
  await until(() => p.connections() === 0, 'p.connections() === 0');
  await send(p, get({ path: '/long' }));
  assert.equal(p.connections(), 1, 'kept: it may idle for 2 s');
  await p.close();
});

test('a request field that cannot be sent is refused before any byte is written', async () => {
  const s = await scripted(() => ok('x'));
  const p = pool(s.port);
  await assert.rejects(send(p, get({ headers: { 'x-bad': 'a\r\nx-injected: 1' } })), (err: UpstreamError) => err.failure === 'protocol');
  await assert.rejects(send(p, get({ headers: { 'bad name': 'v' } })), (err: UpstreamError) => err.failure === 'protocol');
  assert.equal((await send(p, get())).body, 'x');
  assert.equal(s.requests.length, 1);
  await p.close();
});

test('refused connects are connect failures; a peer that closes mid-response is a reset', async () => {
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const refused = pool(port);
  await assert.rejects(send(refused, get()), (err: UpstreamError) => err.failure === 'connect');
  await refused.close();
  const s = await scripted((_r, _n, socket) => {
    socket.end('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc');
    return null;
  });
  const p = pool(s.port);
  await assert.rejects(send(p, get()), (err: UpstreamError) => err.failure === 'reset');
  await p.close();
});

test('an idle connection the server closed is dropped, and the next request opens a new one', async () => {
  const s = await scripted((_r, _n, socket) => {
    socket.write(ok('once'));
    setImmediate(() => socket.end());
    return null;
  });
  const p = pool(s.port);
  await send(p, get());
  await until(() => p.connections() === 0, 'p.connections() === 0');
  assert.equal((await send(p, get())).body, 'once');
  await p.close();
});

test('past max connections requests wait for one to be free', async () => {
  const held: net.Socket[] = [];
  const s = await scripted((_r, _n, socket) => {
    held.push(socket);
    return null;
  });
  const p = pool(s.port, { maxConnections: 1 });
  const first = send(p, get());
  const second = send(p, get());
  await until(() => held.length === 1, 'held.length === 1');
  assert.equal(s.requests.length, 1, 'the second request waits');
  (held[0] as net.Socket).write(ok('1'));
  assert.equal((await first).body, '1');
  await until(() => held.length === 2, 'held.length === 2');
  (held[1] as net.Socket).write(ok('2'));
  assert.equal((await second).body, '2');
  assert.deepEqual(
    s.requests.map((r) => r.conn),
    [1, 1],
  );
  await p.close();
});

test('a sink that throws on the response fails that exchange as a protocol error, never the process', async () => {
  const s = await scripted(() => ok('fine'));
  const p = pool(s.port);
  const err = await new Promise<UpstreamError>((resolve) => {
    p.request(get(), null, {
      onHead() {
        throw new Error('refused by the downstream codec');
      },
      onData: () => true,
      onEnd: () => resolve(new Error('ended') as UpstreamError),
      onError: resolve,
    });
  });
  assert.equal(err.failure, 'protocol');
  assert.match(err.message, /refused by the downstream codec/);
  assert.equal((await send(p, get())).body, 'fine', 'the pool goes on with a new connection');
  await p.close();
});

test('a bare-LF head ends at its own blank line, not at a CRLF pair inside the body', async () => {
  const body = 'a\r\n\r\nb';
  const s = await scripted(() => `HTTP/1.1 200 OK\ncontent-length: ${body.length}\n\n${body}`);
  const p = pool(s.port);
  const r = await send(p, get());
  assert.deepEqual([r.status, r.body], [200, body]);
  await p.close();
});

test('response field lines end at CRLF or at a bare LF, mixed in one head', async () => {
  const heads = ['HTTP/1.1 200 OK\r\na: 1\r\nb: 2', 'HTTP/1.1 200 OK\na: 1\r\nb: 2', 'HTTP/1.1 200 OK\r\na: 1\nb: 2'];
  let i = 0;
  const s = await scripted(() => `${heads[i++ % heads.length]}\r\ncontent-length: 0\r\n\r\n`);
  const p = pool(s.port);
  for (let n = 0; n < heads.length; n++) {
    const r = await send(p, get());
    assert.deepEqual([r.status, r.headers['a'], r.headers['b']], [200, '1', '2'], JSON.stringify(heads[n]));
  }
  await p.close();
});

test('close() lets the exchange in flight finish, closes idle connections, and refuses new requests', async () => {
  const held: net.Socket[] = [];
  const s = await scripted((req, _n, socket) => {
    if (req.includes('/hold')) {
      held.push(socket);
      return null;
    }
    return ok('quick');
  });
  const p = pool(s.port);
  await send(p, get());
  const slow = send(p, get({ path: '/hold' }));
  await until(() => held.length === 1, 'held.length === 1');
  await send(p, get());
  assert.equal(p.connections(), 2);
  await p.close();
  assert.equal(p.connections(), 1, 'the idle connection closed; the busy one stays for its exchange');
  await assert.rejects(send(p, get()), (err: UpstreamError) => err.failure === 'connect');
  (held[0] as net.Socket).write(ok('finished'));
  assert.equal((await slow).body, 'finished');
  await until(() => p.connections() === 0, 'p.connections() === 0');
});

test('a TLS peer that picks h2 by ALPN gets its requests through the HTTP/2 fallback', async () => {
  const ca = await makeCa();
  const cert = await ca.issue('spiffe://cluster.local/ns/a/sa/old');
  const h2 = http2.createSecureServer({ ...cert, ALPNProtocols: ['h2'] }, (req, res) => res.end(`via ${req.httpVersion}`));
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  const port = (h2.address() as net.AddressInfo).port;
  const tlsOptions = { ca: ca.ca, checkServerIdentity: () => undefined };
  const fallback = new H2Upstream(`https://127.0.0.1:${port}`, { connectTimeoutMs: 2000, tls: () => ({ ...tlsOptions, ALPNProtocols: ['h2'] }) });
  const p = pool(port, { tls: () => ({ ...tlsOptions, ALPNProtocols: ['http/1.1', 'h2'] }), fallback: () => fallback });
  const [first, second] = await Promise.all([send(p, get()), send(p, get())]);
  assert.deepEqual([first.body, second.body, (await send(p, get())).body], ['via 2.0', 'via 2.0', 'via 2.0']);
  assert.equal(p.connections(), 0, 'no HTTP/1.1 connection is kept to an h2-only peer');
  await p.close();
  await fallback.close();
  h2.close();
});

/** An HTTP/2 TLS server (HTTP/1.1 too, by ALPN) that answers `via <version>`; `carriers` allows extended CONNECT and serves each such stream as an HTTP/1.1 connection. */
async function carrierServer(carriers: boolean | 'refuse' | 'cancel') {
  const ca = await makeCa();
  const cert = await ca.issue('spiffe://cluster.local/ns/a/sa/server');
  const streams: string[] = [];
  const sessions: http2.ServerHttp2Session[] = [];
  /** The RST_STREAM code each carried stream closed with, as the server saw it (0: none or NO_ERROR). */
  const rstCodes: number[] = [];
  let heldHeads = 0;
  const h2 = http2.createSecureServer({ ...cert, allowHTTP1: true, ALPNProtocols: ['h2', 'http/1.1'], settings: { enableConnectProtocol: carriers !== false } }, (req, res) => {
    // `/hold` is never answered.
    if (req.url === '/hold') heldHeads++;
    else res.end(`via ${req.httpVersion}`);
  });
  h2.on('session', (session) => sessions.push(session));
  // The compatibility layer hands CONNECT requests to 'connect'.
  h2.on('connect', ({ stream, headers }: http2.Http2ServerRequest) => {
    streams.push(String(headers[':protocol']));
    if (carriers === 'refuse') return void stream.respond({ ':status': 501 }, { endStream: true });
    if (carriers === 'cancel') return void stream.close(http2.constants.NGHTTP2_CANCEL);
    stream.respond({ ':status': 200 });
    stream.once('close', () => rstCodes.push(stream.rstCode ?? -1));
    // As the tunnel: the client's END_STREAM ends the connection, and the server ends its side. (A
    // turn later: a stream reset ends its readable side too, and ending the writable one in the same
    // turn makes Node report the reset's code as 0.)
    stream.once('end', () => setImmediate(() => stream.destroyed || stream.end()));
    // Each request read from the stream gets `via carried <n>`, n counting requests on this stream;
    // one for `/hold` is never answered.
    let buf = '';
    let n = 0;
    stream.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const held = buf.startsWith('GET /hold ');
        buf = buf.slice(end + 4);
        if (held) heldHeads++;
        else stream.write(ok(`via carried ${++n}`));
      }
    });
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  const port = (h2.address() as net.AddressInfo).port;
  const tlsOptions = { ca: ca.ca, checkServerIdentity: () => undefined };
  const session = new H2Upstream(`https://127.0.0.1:${port}`, { connectTimeoutMs: 2000, tls: () => ({ ...tlsOptions, ALPNProtocols: ['h2'] }) });
  const p = pool(port, { tls: () => ({ ...tlsOptions, ALPNProtocols: ['http/1.1'] }), carrier: () => session.carry(`127.0.0.1:${port}`), maxRequestsPerConnection: 2 });
  return {
    p,
    session,
    streams,
    sessions,
    rstCodes,
    held: () => heldHeads,
    async close() {
      await p.close();
      await session.close();
      h2.close();
    },
  };
}

test('with a carrier, each connection is an extended CONNECT stream on the HTTP/2 session, and max requests per connection opens another', async () => {
  const s = await carrierServer(true);
  const [a, b] = await Promise.all([send(s.p, get()), send(s.p, get())]);
  assert.deepEqual([a.body, b.body], ['via carried 1', 'via carried 1'], 'two requests at once: two carried connections');
  assert.equal(s.session.connections(), 1, 'both on one HTTP/2 session');
  assert.deepEqual(s.streams, ['outrigger-http1', 'outrigger-http1']);
  const server = s.sessions[0] as http2.ServerHttp2Session;
  assert.equal(server.remoteSettings.initialWindowSize, TUNNEL_STREAM_WINDOW, 'a TLS session is the tunnel: 256 KiB stream windows');
  // Less what the requests have used of it since: a 16 MiB session window, not the 64 KiB default.
  assert.ok((server.state.remoteWindowSize ?? 0) > TUNNEL_SESSION_WINDOW - 65_536, `session window ${server.state.remoteWindowSize}`);
  assert.deepEqual([(await send(s.p, get())).body, (await send(s.p, get())).body, (await send(s.p, get())).body], ['via carried 2', 'via carried 2', 'via carried 1'], 'a third request on a connection opens a new stream');
  assert.equal(s.streams.length, 3);
  await s.close();
});

test('a carried connection closed between requests ends without a reset; one abandoned midway is reset with CANCEL', async () => {
  const s = await carrierServer(true);
  // max requests per connection 2: the second response closes the connection.
  assert.deepEqual([(await send(s.p, get())).body, (await send(s.p, get())).body], ['via carried 1', 'via carried 2']);
  await until(() => s.rstCodes.length === 1, 'the used-up carried stream closes');
  assert.deepEqual(s.rstCodes, [http2.constants.NGHTTP2_NO_ERROR], 'END_STREAM each way, no RST_STREAM');
  const ex = s.p.request(get({ path: '/hold' }), null, { onHead() {}, onData: () => true, onEnd() {}, onError() {} });
  await until(() => s.held() === 1, 'the server has the held request');
  ex.abort('downstream went away');
  await until(() => s.rstCodes.length === 2, 'the abandoned carried stream closes');
  assert.equal(s.rstCodes[1], http2.constants.NGHTTP2_CANCEL, 'a stream no longer wanted: CANCEL, not NO_ERROR');
  await s.close();
});

test('retiring its TLS connections: idle ones close at once, a busy one is reset after the grace, a peer still allowed keeps its own', async () => {
  const s = await carrierServer(false);
  const clock = new FakeClock();
  await Promise.all([send(s.p, get()), send(s.p, get())]);
  assert.equal(s.p.connections(), 2, 'two idle TLS connections');
  s.p.retireIf(() => false, clock);
  assert.equal(s.p.connections(), 2, 'a peer still allowed keeps its connections');
  let outcome: string | undefined;
  s.p.request(get({ path: '/hold' }), null, { onHead() {}, onData: () => true, onEnd: () => (outcome = 'ended'), onError: (err: UpstreamError) => (outcome = err.failure) });
  await until(() => s.held() === 1, 'the server holds the request');
  s.p.retireIf((peer) => peer === 'spiffe://cluster.local/ns/a/sa/server', clock);
  await until(() => s.p.connections() === 1, 'the idle connection closes at once');
  assert.equal(outcome, undefined, 'the busy one has the grace');
  clock.advance(REFUSED_PEER_GRACE_MS);
  await until(() => outcome !== undefined, 'the busy one is reset after it');
  assert.equal(outcome, 'reset');
  await until(() => s.p.connections() === 0, 'and gone');
  await s.close();
});

test('a peer that does not allow extended CONNECT gets connections of their own (TLS), and no stream is asked of it', async () => {
  const s = await carrierServer(false);
  assert.deepEqual([(await send(s.p, get())).body, (await send(s.p, get())).body], ['via 1.1', 'via 1.1']);
  assert.equal(s.p.carries, false, 'the pool stops asking for a minute');
  assert.deepEqual(s.streams, []);
  await s.close();
});

test('a carrier stream the peer resets before answering (CANCEL, no error event) fails at once as a connect failure', async () => {
  const s = await carrierServer('cancel');
  // Without its close seen, the request would wait out the pool's connect timeout and fail with that message.
  await assert.rejects(send(s.p, get()), (err: UpstreamError) => err.failure === 'connect' && /closed before its response/.test(err.message));
  await s.close();
});

test('a carrier stream the peer refuses is a connect failure (UF), not a request sent elsewhere', async () => {
  const s = await carrierServer('refuse');
  await assert.rejects(send(s.p, get()), (err: UpstreamError) => err.failure === 'connect' && /501/.test(err.message));
  assert.equal(s.p.connections(), 0);
  await s.close();
});

test('a response head and chunk lines sent a byte at a time are read, a blank line split across reads included', async () => {
  const text = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-a: b\r\n\r\n5\r\nhello\r\n0\r\n\r\n';
  const s = await scripted((_r, _n, socket) => {
    socket.setNoDelay(true);
    let i = 0;
    const next = (): void => {
      if (i < text.length) socket.write(text[i++] as string, () => setImmediate(next));
    };
    next();
    return null;
  });
  const p = pool(s.port);
  const r = await send(p, get());
  assert.deepEqual([r.status, r.headers['x-a'], r.body], [200, 'b', 'hello']);
  await p.close();
});

test('an HTTP/2 session takes no more streams past maxStreamsPerSession: the next opens a new session, and the old one closes once its streams end', async () => {
  let sessions = 0;
  const closed: number[] = [];
  const h2 = http2.createServer((req, res) => res.end(`session ${(req.stream.session as unknown as { n: number }).n}`));
  h2.on('session', (session) => {
    const n = ++sessions;
    (session as unknown as { n: number }).n = n;
    session.once('close', () => closed.push(n));
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  const up = new H2Upstream(`http://127.0.0.1:${(h2.address() as net.AddressInfo).port}`, { connectTimeoutMs: 2000, maxStreamsPerSession: 2 });
  const bodies: string[] = [];
  for (let i = 0; i < 3; i++) bodies.push((await send(up as unknown as H1Pool, get())).body);
  assert.deepEqual(bodies, ['session 1', 'session 1', 'session 2']);
  await until(() => closed.includes(1), 'the first session closes');
  assert.equal(up.connections(), 1, 'only the second session is left');
  await up.close();
  h2.close();
});

test('a carried connection sends the source metadata once, on its CONNECT; its requests carry only the rest', async () => {
  const ca = await makeCa();
  const cert = await ca.issue('spiffe://cluster.local/ns/a/sa/server');
  const connectPeers: (string | string[] | undefined)[] = [];
  const heads: string[] = [];
  const h2 = http2.createSecureServer({ ...cert, settings: { enableConnectProtocol: true } });
  h2.on('stream', (stream, headers) => {
    connectPeers.push(headers['x-outrigger-peer']);
    stream.respond({ ':status': 200 });
    stream.once('end', () => setImmediate(() => stream.destroyed || stream.end()));
    let buf = '';
    stream.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        heads.push(buf.slice(0, end));
        buf = buf.slice(end + 4);
        stream.write(ok('carried'));
      }
    });
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  const port = (h2.address() as net.AddressInfo).port;
  const tlsOptions = { ca: ca.ca, checkServerIdentity: () => undefined };
  const session = new H2Upstream(`https://127.0.0.1:${port}`, { connectTimeoutMs: 2000, tls: () => ({ ...tlsOptions, ALPNProtocols: ['h2'] }), extraHeaders: { 'x-outrigger-peer': 'META' } });
  const p = pool(port, {
    tls: () => ({ ...tlsOptions, ALPNProtocols: ['http/1.1'] }),
    carrier: () => session.carry(`127.0.0.1:${port}`),
    extraHead: 'x-outrigger-peer: META\r\nx-marker: 1\r\n',
    carriedExtraHead: 'x-marker: 1\r\n',
  });
  try {
    assert.equal((await send(p, get())).body, 'carried');
    assert.equal((await send(p, get())).body, 'carried');
    assert.deepEqual(connectPeers, ['META'], 'one carrier, the metadata on its CONNECT');
    assert.equal(heads.length, 2);
    for (const h of heads) {
      assert.match(h, /\r\nx-marker: 1(\r\n|$)/);
      assert.doesNotMatch(h, /x-outrigger-peer/i, 'not on each request');
    }
  } finally {
    await p.close();
    await session.close();
    h2.close();
  }
});

test("a try on a carried connection learns its destination from the carrier's CONNECT answer, which holds while the session goes away", async () => {
  const ca = await makeCa();
  const cert = await ca.issue('spiffe://cluster.local/ns/a/sa/server');
  const inFlight = Promise.withResolvers<() => void>();
  const h2 = http2.createSecureServer({ ...cert, settings: { enableConnectProtocol: true } });
  h2.on('stream', (stream) => {
    // The destination's metadata, once, in the carrier's answer.
    stream.respond({ ':status': 200, 'x-outrigger-peer': 'DEST' });
    stream.once('end', () => setImmediate(() => stream.destroyed || stream.end()));
    stream.on('data', () => {
      // The destination drains (GOAWAY) while the request is in flight, then answers it.
      inFlight.resolve(() => {
        stream.session?.goaway();
        setImmediate(() => stream.write(ok('late')));
      });
    });
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  const port = (h2.address() as net.AddressInfo).port;
  const tlsOptions = { ca: ca.ca, checkServerIdentity: () => undefined };
  const session = new H2Upstream(`https://127.0.0.1:${port}`, { connectTimeoutMs: 2000, tls: () => ({ ...tlsOptions, ALPNProtocols: ['h2'] }), extraHeaders: { 'x-outrigger-peer': 'META' } });
  const p = pool(port, { tls: () => ({ ...tlsOptions, ALPNProtocols: ['http/1.1'] }), carrier: () => session.carry(`127.0.0.1:${port}`) });
  try {
    const answered: (string | undefined)[] = [];
    const done = new Promise<string>((resolve, reject) => {
      let body = '';
      p.request(get(), null, {
        onPoolReady: (peer) => answered.push(peer),
        onHead() {},
        onData(c) {
          body += c.toString();
          return true;
        },
        onEnd: () => resolve(body),
        onError: reject,
      });
    });
    (await inFlight.promise)();
    assert.equal(await done, 'late', 'the response comes whole on the carrier of a going session');
    assert.deepEqual(answered, ['DEST'], "the try had the carrier's answer from the start, whatever its session does since");
  } finally {
    await p.close();
    await session.close();
    h2.close();
  }
});
