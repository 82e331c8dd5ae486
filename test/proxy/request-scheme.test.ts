// The request's :scheme, as Envoy sets and forwards it.
// - Origin-form HTTP/1.1 names no scheme: Envoy's codec leaves :scheme unset (ServerConnectionImpl::
//   handlePath) and ConnectionManagerUtility::mutateRequestHeaders sets it from x-forwarded-proto as it
//   stands after its own handling (getScheme: a valid http/https value, else the connection's TLS). So a
//   sidecar's client that says `X-Forwarded-Proto: https` has :scheme https; at the edge (use_remote_address,
//   no trusted hops) x-forwarded-proto is the connection's first, and so is :scheme.
// - An HTTP/2 upstream is sent that :scheme (Router::Filter::decodeHeaders → FilterUtility::setUpstreamScheme
//   keeps a valid one; Istio sets no scheme_header_transformation), not always `http`.
// - The edge's refusal of an https absolute-form URL on plaintext (handlePath, 403
//   http1.https_url_on_plaintext_connection) comes from the codec, before any upgrade handling: a
//   WebSocket upgrade gets it too.
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, hcm, listener, push, rawExchange, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let h2: http2.Http2Server;
let ws: http.Server;
/** The :scheme each request reached the HTTP/2 upstream with, by path. */
const h2Seen = new Map<string, string | undefined>();
/** The upgrade requests that reached the WebSocket upstream. */
const upgrades: string[] = [];
let sidecar = 0;
let edge = 0;

const routes = {
  '@type': TypeUrl.RouteConfiguration,
  name: 'r',
  virtual_hosts: [
    {
      name: 'a',
      domains: ['a.example', 'a.example:*'],
      routes: [
        { match: { prefix: '/scheme', headers: [{ name: ':scheme', exact_match: 'https' }] }, direct_response: { status: 200, body: { inline_string: 'scheme https' } } },
        { match: { prefix: '/scheme' }, direct_response: { status: 200, body: { inline_string: 'scheme http' } } },
        { match: { prefix: '/redirect' }, redirect: { path_redirect: '/moved' } },
        { match: { prefix: '/ws' }, route: { cluster: 'ws' } },
        { match: { prefix: '/' }, route: { cluster: 'h2' } },
      ],
    },
  ],
};

before(async () => {
  h2 = http2.createServer((req, res) => {
    h2Seen.set(req.url, req.headers[':scheme'] as string | undefined);
    res.end('ok');
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  ws = http.createServer((_req, res) => res.end('plain'));
  ws.on('upgrade', (req, socket: net.Socket) => {
    upgrades.push(req.url ?? '');
    socket.end('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
  });
  await new Promise<void>((r) => ws.listen(0, '127.0.0.1', r));
  env = await startProxy();
  const upgrade = { upgrade_configs: [{ upgrade_type: 'websocket' }] };
  push(env.proxy, [
    cluster('h2', { http2: true }),
    cla('h2', [{ port: (h2.address() as net.AddressInfo).port }]),
    cluster('ws'),
    cla('ws', [{ port: (ws.address() as net.AddressInfo).port }]),
    listener('sidecar', 8080, [{ filter: hcm('r', upgrade) }]),
    listener('edge', 8443, [{ filter: hcm('r', { ...upgrade, use_remote_address: { value: true } }) }]),
    routes as never,
  ]);
  sidecar = await env.port('sidecar');
  edge = await env.port('edge');
});

after(async () => {
  await env.close();
  h2.close();
  ws.close();
});

const get = (port: number, target: string, extra = '') => rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: a.example\r\n${extra}Connection: close\r\n\r\n`);
const body = (out: string) => out.slice(out.indexOf('\r\n\r\n') + 4);

/** An HTTP/2 request with this :scheme over plaintext; resolves with its status. */
function h2Get(port: number, path: string, scheme: string): Promise<number> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  return new Promise<number>((resolve, reject) => {
    const req = session.request({ ':path': path, ':authority': 'a.example', ':scheme': scheme }, { endStream: true });
    req.on('response', (h) => resolve(Number(h[':status'])));
    req.on('error', reject);
    req.resume();
  }).finally(() => session.close());
}

test("an HTTP/2 upstream gets the request's :scheme: an HTTP/2 client's, an absolute-form URL's", async () => {
  assert.equal(await h2Get(sidecar, '/h2-client-https', 'https'), 200);
  assert.equal(h2Seen.get('/h2-client-https'), 'https');
  assert.equal(await h2Get(sidecar, '/h2-client-http', 'http'), 200);
  assert.equal(h2Seen.get('/h2-client-http'), 'http');
  assert.match(await get(sidecar, 'https://a.example/absolute-https'), /^HTTP\/1\.1 200/);
  assert.equal(h2Seen.get('/absolute-https'), 'https');
});

test("origin-form at a sidecar: :scheme is the client's x-forwarded-proto when http or https, else the connection's", async () => {
  assert.equal(body(await get(sidecar, '/scheme', 'X-Forwarded-Proto: https\r\n')), 'scheme https');
  assert.equal(body(await get(sidecar, '/scheme', 'X-Forwarded-Proto: ftp\r\n')), 'scheme http');
  assert.equal(body(await get(sidecar, '/scheme')), 'scheme http');
  // The HTTP/2 upstream and a redirect's Location (Utility::newUri: the request's :scheme) see it too.
  assert.match(await get(sidecar, '/origin-xfp', 'X-Forwarded-Proto: https\r\n'), /^HTTP\/1\.1 200/);
  assert.equal(h2Seen.get('/origin-xfp'), 'https');
  assert.match(await get(sidecar, '/redirect', 'X-Forwarded-Proto: https\r\n'), /\r\nlocation: https:\/\/a\.example\/moved\r\n/i);
});

test("origin-form at the edge: x-forwarded-proto is the connection's first, so is :scheme", async () => {
  assert.equal(body(await get(edge, '/scheme', 'X-Forwarded-Proto: https\r\n')), 'scheme http');
  assert.match(await get(edge, '/edge-xfp', 'X-Forwarded-Proto: https\r\n'), /^HTTP\/1\.1 200/);
  assert.equal(h2Seen.get('/edge-xfp'), 'http');
});

test('an edge HCM refuses an https absolute-form WebSocket upgrade on plaintext with 403, before any upgrade handling', async () => {
  const head = (target: string) => `GET ${target} HTTP/1.1\r\nHost: a.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
  const refused = await rawExchange(edge, head('https://a.example/ws/refused'));
  assert.match(refused, /^HTTP\/1\.1 403 /);
  assert.deepEqual(upgrades, [], 'nothing reached the upstream');
  // An http URL passes, and a sidecar (no scheme validation) takes the https one.
  assert.match(await rawExchange(edge, head('http://a.example/ws/plain')), /^HTTP\/1\.1 101 /);
  assert.match(await rawExchange(sidecar, head('https://a.example/ws/sidecar')), /^HTTP\/1\.1 101 /);
  assert.deepEqual(upgrades, ['/ws/plain', '/ws/sidecar']);
});
