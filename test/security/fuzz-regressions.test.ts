// Regressions the seeded fuzz tests (fuzz-*.test.ts) found, each minimized to the bytes that matter:
// - a chunked body that failed while a read was still buffered put the HTTP/1.1 codec in an endless
//   loop (the process spun at 100% CPU, serving no one); run in a worker so a spin fails the test;
// - an empty chunked request body (`0\r\n\r\n` alone) was never ended upstream: the request hung until
//   the route timeout;
// - a request target with bytes past ASCII was forwarded, and the origin (llhttp) refused it;
// - an origin's 204 with two different Content-Lengths was relayed as it came, which no client parses;
// - an HTTP/2 preface whose first read held one or two bytes was taken for HTTP/1.1 (answered 400);
// - after a client's GOAWAY, a frame nghttp2 answers with a connection error left the session open for
//   ever (Node's graceful close never completes): now it ends once silent for the stream idle timeout
//   on a listener, for tcp_proxy's idle timeout on the mesh tunnel (a peer with a mesh certificate);
// - an HTTP/1.0 request with Transfer-Encoding kept its connection (keep-alive), and a request pipelined
//   behind it was served, where the reference closes after it (RFC 9112 §6.1: faulty framing).
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { H1ServerConnection, h1ServerDefaults } from '../../src/proxy/http/h1-server.ts';
import { DEFAULT_STREAM_IDLE_TIMEOUT_MS } from '../../src/proxy/http/stream-timeouts.ts';
import { TCP_PROXY_IDLE_TIMEOUT_MS } from '../../src/proxy/listener/compile-listener.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from '../proxy/certs.ts';
import { frame, FrameType, headers, PREFACE, settings } from '../proxy/h2-frames.ts';
import { cla, cluster, echoBackend, hcm, listener, ManualTimers, push, rawExchange, routeConfig, startProxy } from '../proxy/harness.ts';
import { parseRequests } from './strict-h1-reference.ts';

/**
 * In the worker: a pipelined chunked request whose chunk line outgrows the head budget, behind a
 * request answered late; a third write waits in the paused socket's buffer when the late answer
 * resumes it. Posts what the client received once the server closed.
 */
async function spinScenario(): Promise<void> {
  let answer: (() => void) | undefined;
  let serverSocket: net.Socket | undefined;
  const server = net.createServer((socket) => {
    serverSocket = socket;
    new H1ServerConnection(socket, h1ServerDefaults, (req, res) => {
      req.body?.resume();
      answer = () => {
        res.writeHead(200, { 'content-length': '2' });
        res.end('ok');
      };
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  let got = '';
  client.on('data', (c: Buffer) => {
    got += c.toString('latin1');
  });
  const closed = new Promise<void>((r) => client.on('close', () => r()));
  await new Promise<void>((r) => client.once('connect', () => r()));
  client.write(`GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${'0'.repeat(61_500)}`);
  // The server holds the pipelined request (past the budget: its socket paused) until /1 is answered.
  for (let i = 0; i < 1000 && (answer === undefined || !serverSocket?.isPaused()); i++) await new Promise((r) => setImmediate(r));
  client.write('x'.repeat(100));
  for (let i = 0; i < 1000 && (serverSocket?.readableLength ?? 0) === 0; i++) await new Promise((r) => setImmediate(r));
  answer?.();
  await closed;
  server.close();
  parentPort?.postMessage(got);
}

if (!isMainThread) await spinScenario();
else {
  test('a chunked body failing with a read still buffered closes the connection, and the codec does not spin', async () => {
    const worker = new Worker(new URL(import.meta.url));
    try {
      const got = await new Promise<string | 'spun'>((resolve, reject) => {
        // Only a failure waits this long: a codec in an endless loop never posts.
        const deadline = setTimeout(() => resolve('spun'), 10_000);
        worker.once('message', (m: string) => {
          clearTimeout(deadline);
          resolve(m);
        });
        worker.once('error', reject);
      });
      assert.notEqual(got, 'spun', 'the codec looped forever');
      assert.match(got, /^HTTP\/1\.1 200 OK\r\n/);
    } finally {
      await worker.terminate();
    }
  });

  let env: Awaited<ReturnType<typeof startProxy>>;
  let backend: Awaited<ReturnType<typeof echoBackend>>;
  let port: number;
  /** An origin that answers every request with `rawAnswer` and closes. */
  let rawOrigin: net.Server;
  let rawAnswer = '';

  before(async () => {
    backend = await echoBackend();
    rawOrigin = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.end(rawAnswer, 'latin1'));
    });
    await new Promise<void>((r) => rawOrigin.listen(0, '127.0.0.1', r));
    env = await startProxy();
    push(env.proxy, [
      cluster('echo'),
      cla('echo', [{ port: backend.port }]),
      cluster('raw'),
      cla('raw', [{ port: (rawOrigin.address() as net.AddressInfo).port }]),
      listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
      routeConfig('http.8080', [
        { domains: ['raw.example'], routes: [{ prefix: '/', cluster: 'raw' }] },
        { domains: ['*'], routes: [{ prefix: '/', cluster: 'echo' }] },
      ]),
    ]);
    port = await env.port('0.0.0.0_8080');
  });

  after(async () => {
    await env?.close();
    backend?.server.close();
    rawOrigin?.close();
  });

  test("an origin's 204 or HEAD answer with conflicting or broken Content-Length is refused: 502 UPE", async () => {
    for (const [method, answer] of [
      ['GET', 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n'],
      ['GET', 'HTTP/1.1 304 Not Modified\r\nContent-Length: -1\r\n\r\n'],
      ['HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n'],
    ] as const) {
      rawAnswer = answer;
      const out = await rawExchange(port, `${method} / HTTP/1.1\r\nHost: raw.example\r\nConnection: close\r\n\r\n`);
      assert.match(out, /^HTTP\/1\.1 502 /, JSON.stringify(answer));
      assert.match(out, /x-envoy-response-flags: UPE/i);
    }
    // A repeated, equal Content-Length is one, and goes on.
    rawAnswer = 'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n';
    assert.match(await rawExchange(port, 'GET / HTTP/1.1\r\nHost: raw.example\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 204 /);
  });

  test('an HTTP/1.0 request with Transfer-Encoding is answered, then the connection closes: the origin reads what the reference reads', async () => {
    const bytes = 'POST /first HTTP/1.0\r\nHost: a.example\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nx-fuzz: first\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a.example\r\nx-fuzz: smuggled\r\nConnection: close\r\n\r\n';
    const ref = parseRequests(Buffer.from(bytes, 'latin1'));
    assert.equal(ref.end, 'closed');
    assert.deepEqual(ref.requests.map((r) => r.fuzzId), ['first']);
    const seen = backend.requests.length;
    const out = await rawExchange(port, bytes);
    assert.equal(out.match(/HTTP\/1\.1 200 OK/g)?.length, 1);
    assert.match(out, /\r\nconnection: close\r\n/);
    assert.deepEqual(backend.requests.slice(seen).map((r) => r.url), ['/first']);
  });

  test('an HTTP/2 preface whose first read is one byte is still HTTP/2', async () => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    socket.on('error', () => {});
    let got = Buffer.alloc(0);
    const answered = new Promise<boolean>((resolve) => {
      socket.on('data', (c: Buffer) => {
        got = Buffer.concat([got, c]);
        // A HEADERS frame on stream 1 (frames parsed in order; an HTTP/1.1 answer never parses as one).
        for (let b = got; b.length >= 9; b = b.subarray(9 + b.readUIntBE(0, 3))) {
          if (b.readUInt8(3) === FrameType.HEADERS && (b.readUInt32BE(5) & 0x7fffffff) === 1) resolve(true);
        }
      });
      socket.on('close', () => resolve(false));
    });
    await new Promise<void>((r) => socket.once('connect', () => r()));
    await new Promise<void>((r) => socket.write(PREFACE.subarray(0, 1), () => r()));
    // The one byte goes out alone (no delay on the socket); the rest follows in a later read.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    socket.write(Buffer.concat([PREFACE.subarray(1), settings(), headers(1, { ':method': 'GET', ':path': '/h2', ':scheme': 'http', ':authority': 'a.example' }, true)]));
    const ok = await answered;
    socket.destroy();
    assert.ok(ok, `answered as HTTP/2, not ${JSON.stringify(got.subarray(0, 20).toString('latin1'))}`);
  });

  /**
   * A request, the client's GOAWAY (NO_ERROR), then an RST_STREAM of 3 bytes (FRAME_SIZE_ERROR, a
   * connection error) on `socket`, which the client keeps open: whether the session ends once the
   * session's bound after the GOAWAY (`boundMs` of silence, `bounds` timers of that length pending with
   * the stream's own idle timer) has run on `timers`, as often as it is armed again.
   */
  async function closesAfterGoaway(socket: net.Socket, timers: ManualTimers, boundMs: number, bounds: number, extra: Record<string, string> = {}): Promise<string> {
    socket.on('error', () => {});
    socket.on('data', () => {});
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    let isClosed = false;
    void closed.then(() => {
      isClosed = true;
    });
    const noError = Buffer.alloc(8);
    const request = { ':method': 'GET', ':path': '/', ':scheme': 'http', ':authority': 'a.example', ...extra };
    socket.write(Buffer.concat([PREFACE, settings(), headers(1, request, true), frame(FrameType.GOAWAY, 0, 0, noError), frame(FrameType.RST_STREAM, 0, 13, Buffer.alloc(3))]));
    const pending = () => [...timers.pending.values()].filter((t) => t.ms === boundMs).length;
    // The session's bound is armed once the frames are in.
    for (let i = 0; i < 2000 && pending() < bounds; i++) await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 10 && !isClosed && (timers.fire(boundMs) || timers.fire(DEFAULT_STREAM_IDLE_TIMEOUT_MS)); i++) await new Promise((r) => setImmediate(r));
    // Only a failure waits this long: the session, once silent for its bound, is destroyed at once.
    const outcome = await Promise.race([closed.then(() => 'closed'), new Promise<string>((r) => setTimeout(() => r('open'), 2000))]);
    socket.destroy();
    return outcome;
  }

  test("a session left open after the client's GOAWAY and a connection error ends once silent for the stream idle timeout", async () => {
    const timers = new ManualTimers();
    const own = await startProxy({ timers });
    try {
      push(own.proxy, [
        cluster('echo'),
        cla('echo', [{ port: backend.port }]),
        listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
        routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'echo' }] }]),
      ]);
      // The stream's idle timer and the session's bound are both the stream idle timeout.
      assert.equal(await closesAfterGoaway(net.connect(await own.port('0.0.0.0_8080'), '127.0.0.1'), timers, DEFAULT_STREAM_IDLE_TIMEOUT_MS, 2), 'closed');
    } finally {
      await own.close();
    }
  });

  test("a mesh tunnel session left open after the peer's GOAWAY and a connection error ends once silent for tcp_proxy's idle timeout", async () => {
    const timers = new ManualTimers();
    const ca = await makeCa();
    const own = await startProxy({ timers, nodeId: 'sidecar~127.0.0.1~podinfo.podinfo~podinfo.svc.cluster.local' });
    try {
      own.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/podinfo/sa/podinfo'));
      push(own.proxy, [
        cluster('inbound|9898||'),
        cla('inbound|9898||', [{ port: backend.port }]),
        listener('virtualInbound', 15006, [{ port: 9898, filter: hcm('inbound|9898||') }]),
        listener('connect_terminate', 15008, []),
        routeConfig('inbound|9898||', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'inbound|9898||' }] }]),
        { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } },
      ]);
      // A peer holding a mesh certificate of the same root: its session is the tunnel's own HTTP/2.
      const peer = await ca.issue('spiffe://cluster.local/ns/frontend/sa/web');
      const socket = tls.connect({ host: '127.0.0.1', port: await own.port('connect_terminate'), ...peer, ca: ca.ca, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', () => resolve());
        socket.once('error', reject);
      });
      assert.equal(socket.alpnProtocol, 'h2');
      // The tunnel's bound is tcp_proxy's idle timeout, the longest a tunnelled stream may be silent.
      assert.equal(await closesAfterGoaway(socket, timers, TCP_PROXY_IDLE_TIMEOUT_MS, 1, { 'x-outrigger-target-port': '9898' }), 'closed');
    } finally {
      await own.close();
    }
  });

  test('an empty chunked request body is ended upstream: the origin answers at once', async () => {
    // The echo backend answers at the body's end; before the fix the last chunk never left the proxy.
    const started = performance.now();
    const out = await rawExchange(port, 'POST /empty HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n', 5000);
    assert.match(out, /^HTTP\/1\.1 200 /);
    assert.match(out, /"url":"\/empty"/);
    assert.match(out, /"body":""/);
    assert.ok(performance.now() - started < 5000);
  });

  test('a request target with a byte past ASCII is refused with 400, and nothing reaches the origin', async () => {
    const before = backend.requests.length;
    for (const target of ['/\xe9', '/a;b=\xf1', '/x\x80', '/ok?q=\xff']) {
      const out = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n`);
      assert.match(out, /^HTTP\/1\.1 400 /, JSON.stringify(target));
      // The proxy's own answer, not the origin's refusal relayed.
      assert.doesNotMatch(out, /x-envoy-upstream-service-time/i, JSON.stringify(target));
    }
    assert.equal(backend.requests.length, before);
  });
}
