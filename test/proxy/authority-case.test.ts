// The authority's case on the way upstream. Envoy matches virtual hosts on a lower-cased copy of Host
// (RouteMatcher::findVirtualHost: "hostnames are case insensitive") and leaves the header itself alone:
// the router rewrites it only for host_rewrite_literal / host_rewrite_header (finalizeRequestHeaders).
// So the upstream gets Host / :authority as the client wrote it, over HTTP/1.1 and HTTP/2 alike.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let h1: Awaited<ReturnType<typeof echoBackend>>;
let h2: http2.Http2Server;
/** The :authority each request reached the HTTP/2 upstream with, by path. */
const h2Seen = new Map<string, string | undefined>();

function routes(): unknown {
  return {
    '@type': TypeUrl.RouteConfiguration,
    name: 'r',
    virtual_hosts: [
      {
        name: 'shop',
        domains: ['shop.example.com', 'shop.example.com:*'],
        routes: [
          { match: { prefix: '/h2' }, route: { cluster: 'h2' } },
          { match: { prefix: '/rewritten' }, route: { cluster: 'h1', host_rewrite_literal: 'Backend.Internal' } },
          { match: { prefix: '/' }, route: { cluster: 'h1' } },
        ],
      },
    ],
  };
}

before(async () => {
  h1 = await echoBackend();
  h2 = http2.createServer((req, res) => {
    h2Seen.set(req.url, req.headers[':authority']);
    res.end('ok');
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  env = await startProxy();
  push(env.proxy, [
    cluster('h1'),
    cla('h1', [{ port: h1.port }]),
    cluster('h2', { http2: true }),
    cla('h2', [{ port: (h2.address() as net.AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r') }]),
    routes() as never,
  ]);
});

after(async () => {
  await env.close();
  h1.server.close();
  h2.close();
});

const h1Host = (path: string): string | undefined => h1.requests.find((r) => r.url === path)?.headers.host;

test('HTTP/1.1: a mixed-case Host routes case-insensitively and reaches the upstream as sent (HTTP/1.1 and HTTP/2 upstreams)', async () => {
  const port = await env.port('0.0.0.0_8080');
  assert.equal((await request(port, '/as-sent', { host: 'Shop.Example.COM' })).status, 200);
  assert.equal(h1Host('/as-sent'), 'Shop.Example.COM');
  assert.equal((await request(port, '/with-port', { host: 'SHOP.example.com:8080' })).status, 200);
  assert.equal(h1Host('/with-port'), 'SHOP.example.com:8080');
  assert.equal((await request(port, '/h2/as-sent', { host: 'Shop.Example.COM' })).status, 200);
  assert.equal(h2Seen.get('/h2/as-sent'), 'Shop.Example.COM');
  // host_rewrite still decides when the route has one, written as configured.
  assert.equal((await request(port, '/rewritten', { host: 'Shop.Example.COM' })).status, 200);
  assert.equal(h1Host('/rewritten'), 'Backend.Internal');
});

test('HTTP/2: a mixed-case :authority reaches the upstream as sent (HTTP/1.1 Host and HTTP/2 :authority)', async () => {
  const port = await env.port('0.0.0.0_8080');
  const session = http2.connect(`http://127.0.0.1:${port}`);
  const get = (path: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = session.request({ ':path': path, ':authority': 'Shop.Example.COM' }, { endStream: true });
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', reject);
      req.resume();
    });
  try {
    assert.equal(await get('/from-h2'), 200);
    assert.equal(h1Host('/from-h2'), 'Shop.Example.COM');
    assert.equal(await get('/h2/from-h2'), 200);
    assert.equal(h2Seen.get('/h2/from-h2'), 'Shop.Example.COM');
  } finally {
    session.close();
  }
});
