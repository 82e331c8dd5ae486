// A downstream HTTP/2 client on a listener, on the proxy's own server streams (no compat layer): what
// Node's compat server used to answer for it (100-continue, 417, CONNECT's 405) still comes, and
// trailers travel both ways.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { cla, cluster, echoBackend, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let h1: Awaited<ReturnType<typeof echoBackend>>;
let h2: http2.Http2Server;
const h2Trailers: http2.IncomingHttpHeaders[] = [];
let port: number;

before(async () => {
  h1 = await echoBackend((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => res.end(JSON.stringify({ body })));
  });
  h2 = http2.createServer();
  h2.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.on('trailers', (t) => h2Trailers.push(t));
    stream.resume();
    stream.on('end', () => {
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-upstream-trailer': 'done' }));
      stream.end('payload');
    });
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  env = await startProxy();
  push(env.proxy, [
    cluster('h1'),
    cluster('h2', { http2: true }),
    cla('h1', [{ port: h1.port }]),
    cla('h2', [{ port: (h2.address() as net.AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
    routeConfig('http.8080', [
      { domains: ['h1.example.com'], routes: [{ prefix: '/', cluster: 'h1' }] },
      { domains: ['h2.example.com'], routes: [{ prefix: '/', cluster: 'h2' }] },
    ]),
  ]);
  port = await env.port('0.0.0.0_8080');
});

after(async () => {
  await env.close();
  h1.server.close();
  h2.close();
});

interface Answer {
  status: number | undefined;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: string;
  continued: boolean;
}

/** One request on a fresh h2c session; `send` writes the body (after a 100 when `waitContinue`); `trailers` are sent after it. */
function exchange(headers: http2.OutgoingHttpHeaders, send?: (req: http2.ClientHttp2Stream) => void, opts: { waitContinue?: boolean; trailers?: http2.OutgoingHttpHeaders } = {}): Promise<Answer> {
  const waitContinue = opts.waitContinue === true;
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  return new Promise((resolve, reject) => {
    const req = session.request(headers, opts.trailers ? { waitForTrailers: true } : waitContinue ? {} : { endStream: send === undefined });
    const trailers = opts.trailers;
    if (trailers) req.on('wantTrailers', () => req.sendTrailers(trailers));
    const a: Answer = { status: undefined, headers: {}, trailers: {}, body: '', continued: false };
    req.on('continue', () => {
      a.continued = true;
      send?.(req);
    });
    req.on('response', (h) => {
      a.status = h[':status'];
      a.headers = h;
    });
    req.on('trailers', (t) => {
      a.trailers = t;
    });
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      a.body += c;
    });
    req.on('error', reject);
    req.on('close', () => {
      session.close();
      resolve(a);
    });
    if (!waitContinue) send?.(req);
  });
}

test('Expect: 100-continue is answered 100, then the body is forwarded', async () => {
  const a = await exchange({ ':method': 'POST', ':path': '/up', ':authority': 'h1.example.com', expect: '100-continue' }, (req) => req.end('after continue'), { waitContinue: true });
  assert.equal(a.continued, true, 'the client saw 100 Continue');
  assert.equal(a.status, 200);
  assert.deepEqual(JSON.parse(a.body), { body: 'after continue' });
});

test('any other expectation is refused with 417 and goes nowhere', async () => {
  const before = h1.requests.length;
  const a = await exchange({ ':method': 'GET', ':path': '/', ':authority': 'h1.example.com', expect: 'something-else' });
  assert.equal(a.status, 417);
  assert.equal(h1.requests.length, before, 'the upstream never saw it');
});

test('CONNECT over HTTP/2 on a listener is refused with 405', async () => {
  const a = await exchange({ ':method': 'CONNECT', ':authority': 'h1.example.com:80' });
  assert.equal(a.status, 405);
});

test("an HTTP/2 request's trailers reach an HTTP/2 upstream, and the upstream's trailers come back", async () => {
  h2Trailers.length = 0;
  const a = await exchange({ ':method': 'POST', ':path': '/up', ':authority': 'h2.example.com', te: 'trailers' }, (req) => req.end('body'), { trailers: { 'x-request-trailer': 'sent' } });
  assert.equal(a.status, 200);
  assert.equal(h2Trailers[0]?.['x-request-trailer'], 'sent');
  assert.equal(a.body, 'payload');
  assert.equal(a.trailers['x-upstream-trailer'], 'done');
});
