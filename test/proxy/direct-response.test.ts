// Direct responses and CORS through a real OutriggerProxy (HTTP/1.1 over a socket), as Envoy answers:
// router.cc gives a 201 or 3xx direct response a Location (the request's URI, Http::Utility::newUri), an
// inline_bytes body leaves byte for byte, the CORS filter skips a route without a route entry, and its
// own preflight reply passes its encodeHeaders (Expose-Headers).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { compileRouteConfiguration } from '../../src/proxy/http/route/index.ts';
import type { DownstreamRequest } from '../../src/proxy/http/stream.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, startProxy } from './harness.ts';

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xff, 0x00, 0xc3]);
const cors = {
  'envoy.filters.http.cors': {
    '@type': TypeUrl.CorsPolicy,
    allow_origin_string_match: [{ exact: 'https://app.example.com' }],
    allow_methods: 'GET,POST',
    expose_headers: 'x-request-id',
    filter_enabled: { default_value: { numerator: 100 } },
  },
};

let env: Awaited<ReturnType<typeof startProxy>>;
let port: number;
let backend: Awaited<ReturnType<typeof echoBackend>>;

before(async () => {
  backend = await echoBackend();
  env = await startProxy({ role: 'router' });
  push(env.proxy, [
    cluster('c'),
    cla('c', [{ port: backend.port }]),
    listener('0.0.0.0_8080', 8080, [
      {
        filter: hcm('rt', {
          http_filters: [
            { name: 'envoy.filters.http.cors', typed_config: { '@type': TypeUrl.Cors } },
            { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
          ],
        }),
      },
    ]),
    {
      '@type': TypeUrl.RouteConfiguration,
      name: 'rt',
      virtual_hosts: [
        {
          name: 'v',
          domains: ['*'],
          routes: [
            { name: 'created', match: { path: '/created' }, direct_response: { status: 201, body: { inline_string: 'ok' } } },
            { name: 'moved', match: { path: '/moved' }, direct_response: { status: 302 } },
            { name: 'denied', match: { path: '/denied' }, direct_response: { status: 403 }, typed_per_filter_config: cors },
            { name: 'png', match: { path: '/png' }, direct_response: { status: 200, body: { inline_bytes: PNG.toString('base64') } } },
            { name: 'app', match: { prefix: '/' }, route: { cluster: 'c' }, typed_per_filter_config: cors },
          ],
        },
      ],
    },
  ]);
  port = await env.port('0.0.0.0_8080');
});
after(async () => {
  await env.close();
  backend.server.close();
});

test('a 201 or 3xx direct response carries Location, the request URI with its query, Host as sent', async () => {
  const created = await request(port, '/created?a=1', { host: 'Shop.example.com:8080' });
  assert.equal(created.status, 201);
  assert.equal(created.headers.location, 'http://Shop.example.com:8080/created?a=1');
  const moved = await request(port, '/moved', { host: 'shop.example.com' });
  assert.equal(moved.status, 302);
  assert.equal(moved.headers.location, 'http://shop.example.com/moved');
  // The port stays while x-forwarded-proto agrees with the scheme; where it disagrees, its own default
  // port is dropped (processRequestHost): an absolute-form http URL with x-forwarded-proto https.
  const agree = await request(port, '/moved', { host: 'shop.example.com:443', headers: { 'x-forwarded-proto': 'https' } });
  assert.equal(agree.headers.location, 'https://shop.example.com:443/moved');
  const disagree = await request(port, 'http://shop.example.com:443/moved', { host: 'shop.example.com:443', headers: { 'x-forwarded-proto': 'https' } });
  assert.equal(disagree.headers.location, 'http://shop.example.com/moved');
});

test('other direct response codes carry no Location', async () => {
  const denied = await request(port, '/denied', { host: 'shop.example.com' });
  assert.equal(denied.status, 403);
  assert.equal(denied.headers.location, undefined);
  assert.equal((await request(port, '/png')).headers.location, undefined);
});

test('an inline_bytes body is sent as its bytes, unchanged', async () => {
  const { status, headers, body } = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/png', agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
  assert.equal(status, 200);
  assert.equal(headers['content-length'], String(PNG.length));
  assert.deepEqual([...body], [...PNG]);
});

test('the route library keeps inline_bytes as bytes', () => {
  const t = compileRouteConfiguration({
    name: 'x',
    virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ name: 'r', match: { prefix: '/' }, direct_response: { status: 200, body: { inline_bytes: PNG.toString('base64') } } }] }],
  });
  const req: DownstreamRequest = { method: 'GET', scheme: 'http', authority: 'x', sentAuthority: 'x', path: '/', query: '', headers: new Map(), protocol: 'HTTP/1.1', connection: { remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '', localPort: 80, tls: false } };
  assert.deepEqual([...Buffer.from(t.match(req, 0)?.directResponse?.body ?? '')], [...PNG]);
});

test('CORS leaves a direct_response route alone, preflight or not', async () => {
  const preflight = await request(port, '/denied', { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' } });
  assert.equal(preflight.status, 403);
  assert.equal(preflight.headers['access-control-allow-origin'], undefined);
  const get = await request(port, '/denied', { headers: { origin: 'https://app.example.com' } });
  assert.equal(get.headers['access-control-allow-origin'], undefined);
});

test('the preflight reply the CORS filter answers gains Expose-Headers, as Envoy\'s encodeHeaders adds them', async () => {
  const r = await request(port, '/api', { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers['access-control-allow-origin'], 'https://app.example.com');
  assert.equal(r.headers['access-control-allow-methods'], 'GET,POST');
  assert.equal(r.headers['access-control-expose-headers'], 'x-request-id');
  assert.equal(backend.requests.length, 0, 'the preflight never reached the app');
});
