// Header values written in config (a route's headers to add) through a real proxy: a value outside ASCII
// reaches the upstream and the client as its UTF-8 bytes, on HTTP/1.1 and HTTP/2, as Envoy sends it.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, rawExchange, startProxy } from './harness.ts';

const VALUE = 'café € \u010a';
const UTF8 = Buffer.from(VALUE, 'utf8').toString('latin1');

const backend = await echoBackend();
after(() => backend.server.close());
const p = await startProxy();
after(() => p.close());
push(p.proxy, [
  cluster('c'),
  cla('c', [{ port: backend.port }]),
  listener('0.0.0.0_8080', 8080, [{ filter: hcm('r') }]),
  {
    '@type': TypeUrl.RouteConfiguration,
    name: 'r',
    virtual_hosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          {
            match: { prefix: '/' },
            route: { cluster: 'c' },
            request_headers_to_add: [{ header: { key: 'x-to-app', value: VALUE } }],
            response_headers_to_add: [{ header: { key: 'x-to-client', value: VALUE } }],
          },
        ],
      },
    ],
  },
]);
const port = await p.port('0.0.0.0_8080');

test('HTTP/1.1: the client and the upstream get the UTF-8 bytes, and U+010A never becomes a line feed', async () => {
  const out = await rawExchange(port, 'GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 200 /);
  assert.ok(out.includes(`x-to-client: ${UTF8}\r\n`), out);
  // The echo backend read its request with Node's parser (latin1): the same bytes reached it.
  assert.equal((backend.requests.at(-1)?.headers['x-to-app'] as string | undefined) ?? '', UTF8);
});

test('HTTP/2: the same bytes', async () => {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const s = client.request({ ':path': '/', ':authority': 'a' });
      s.on('response', resolve);
      s.on('error', reject);
      s.resume();
    });
    assert.equal(headers['x-to-client'], UTF8);
  } finally {
    client.close();
  }
});
