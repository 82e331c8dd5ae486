// The scheme of an absolute-form target (`GET https://host/x HTTP/1.1`), as Envoy's HTTP/1 codec takes
// it (ServerConnectionImpl::handlePath): `:scheme` is the URL's, lower-cased; Host is its authority. On an
// edge HCM (use_remote_address, no trusted hops: the codec's validate_scheme) an https URL on a plaintext
// connection is refused with 403 (http1.https_url_on_plaintext_connection). x-forwarded-proto is not the
// URL's: ConnectionManagerUtility::mutateRequestHeaders sets it from the connection's TLS, and require_tls
// reads it (VirtualHostImpl::getRouteFromEntries), so an https URL over plaintext is still redirected.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, rawExchange, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
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
        { match: { prefix: '/' }, route: { cluster: 'echo' } },
      ],
    },
    { name: 'tls', domains: ['tls.example'], require_tls: 'ALL', routes: [{ match: { prefix: '/' }, route: { cluster: 'echo' } }] },
  ],
};

before(async () => {
  backend = await echoBackend();
  env = await startProxy();
  push(env.proxy, [
    cluster('echo'),
    cla('echo', [{ port: backend.port }]),
    listener('sidecar', 8080, [{ filter: hcm('r') }]),
    listener('edge', 8443, [{ filter: hcm('r', { use_remote_address: { value: true } }) }]),
    routes as never,
  ]);
  sidecar = await env.port('sidecar');
  edge = await env.port('edge');
});

after(async () => {
  await env.close();
  backend.server.close();
});

const get = (port: number, target: string, host: string) => rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
const body = (out: string) => out.slice(out.indexOf('\r\n\r\n') + 4);

test("an absolute-form target's scheme is the request's :scheme, lower-cased; origin-form keeps the connection's", async () => {
  assert.equal(body(await get(sidecar, 'https://a.example/scheme', 'a.example')), 'scheme https');
  assert.equal(body(await get(sidecar, 'HTTPS://a.example/scheme', 'a.example')), 'scheme https');
  assert.equal(body(await get(sidecar, 'http://a.example/scheme', 'a.example')), 'scheme http');
  assert.equal(body(await get(sidecar, '/scheme', 'a.example')), 'scheme http');
});

test("x-forwarded-proto comes from the connection, not the URL's scheme", async () => {
  const out = await get(sidecar, 'https://a.example/echo', 'a.example');
  assert.match(out, /^HTTP\/1\.1 200/);
  assert.equal((JSON.parse(body(out)) as { headers: Record<string, string> }).headers['x-forwarded-proto'], 'http');
});

test('require_tls reads x-forwarded-proto: an https URL over plaintext is still redirected', async () => {
  const out = await get(sidecar, 'https://tls.example/x', 'tls.example');
  assert.match(out, /^HTTP\/1\.1 301/);
  assert.match(out, /\r\nlocation: https:\/\/tls\.example\/x\r\n/i);
});

test('an edge HCM refuses an https URL on a plaintext connection with 403; an http one passes', async () => {
  const before = backend.requests.length;
  const refused = await get(edge, 'https://a.example/echo', 'a.example');
  assert.match(refused, /^HTTP\/1\.1 403/);
  assert.equal(backend.requests.length, before, 'nothing reached the upstream');
  assert.match(await get(edge, 'http://a.example/echo', 'a.example'), /^HTTP\/1\.1 200/);
  // A sidecar (no use_remote_address) takes it, as Envoy's codec validates the scheme only at the edge.
  assert.match(await get(sidecar, 'https://a.example/echo', 'a.example'), /^HTTP\/1\.1 200/);
});
