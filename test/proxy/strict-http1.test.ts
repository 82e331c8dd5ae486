// Strict HTTP/1.1: the framing and authority attacks from the security reference (§1.4, B-1..B-8),
// replayed as raw bytes. Nothing malformed may reach the upstream.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { cla, cluster, echoBackend, hcm, listener, push, rawExchange, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
let gw: number;

before(async () => {
  backend = await echoBackend();
  env = await startProxy();
  push(env.proxy, resources());
  gw = await env.port('0.0.0.0_8080');
});

/** The listener under test (and, for one test, more). */
function resources(): TypedAny[] {
  return [
    cluster('echo'),
    cla('echo', [{ port: backend.port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
    routeConfig('http.8080', [{ domains: ['a.example', 'a.example:*'], routes: [{ prefix: '/', cluster: 'echo' }] }]),
  ];
}

after(async () => {
  await env.close();
  backend.server.close();
});

const cases: [string, string, RegExp][] = [
  ['CL + TE', 'POST / HTTP/1.1\r\nHost: a.example\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a.example\r\n\r\n', /^HTTP\/1\.1 400/],
  ['obs-fold TE', 'POST / HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n , identity\r\n\r\n0\r\n\r\n', /^HTTP\/1\.1 400/],
  ['space before colon', 'GET / HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding : chunked\r\n\r\n', /^HTTP\/1\.1 400/],
  ['duplicate Host', 'GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n', /^HTTP\/1\.1 400/],
  ['absolute-form ≠ Host', 'GET http://evil.example/admin HTTP/1.1\r\nHost: a.example\r\n\r\n', /^HTTP\/1\.1 400/],
  ['missing Host', 'GET / HTTP/1.1\r\n\r\n', /^HTTP\/1\.1 400/],
  ['lower-case method', 'get / HTTP/1.1\r\nHost: a.example\r\n\r\n', /^HTTP\/1\.1 400/],
  ['NUL in value', 'GET / HTTP/1.1\r\nHost: a.example\r\nX: a\0b\r\n\r\n', /^HTTP\/1\.1 400/],
  ['bare LF', 'GET / HTTP/1.1\nHost: a.example\n\n', /^HTTP\/1\.1 400/],
  ['101 headers', `GET / HTTP/1.1\r\nHost: a.example\r\n${Array.from({ length: 101 }, (_, i) => `x-h${i}: v\r\n`).join('')}\r\n`, /^HTTP\/1\.1 431/],
];

for (const [name, bytes, expected] of cases) {
  test(`rejects: ${name}`, async () => {
    const before = backend.requests.length;
    const out = await rawExchange(gw, bytes);
    assert.match(out, expected);
    assert.equal(backend.requests.length, before, 'nothing reached the upstream');
  });
}

test('strips the fragment and serves two pipelined requests in order', async () => {
  const out = await rawExchange(gw, 'GET /one#frag HTTP/1.1\r\nHost: a.example\r\n\r\nGET /two HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
  const urls = [...out.matchAll(/"url":"([^"]*)"/g)].map((m) => m[1]);
  assert.deepEqual(urls, ['/one', '/two']);
});

test('absolute-form that agrees with Host is routed by its authority', async () => {
  const out = await rawExchange(gw, 'GET http://a.example/abs HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 200/);
  assert.match(out, /"url":"\/abs"/);
});

test("absolute-form: the target's authority is taken as written, and Host agrees with it in any case, with or without the default port", async () => {
  const exchange = (target: string, host: string) => rawExchange(gw, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  for (const [target, host] of [
    ['http://A.Example:80/abs', 'A.Example:80'],
    ['http://a.example/abs', 'A.EXAMPLE:80'],
    ['http://a.example:80/abs', 'a.example'],
  ] as const) {
    const out = await exchange(target, host);
    assert.match(out, /^HTTP\/1\.1 200/, `${target} with Host ${host}`);
    assert.match(out, /"url":"\/abs"/);
  }
  // As Envoy's codec, the upstream gets the target's authority (routing lower-cases it).
  assert.match(await exchange('http://a.example:80/abs', 'a.example'), /"host":"a\.example:80"/);
  // Another port is another origin.
  assert.match(await exchange('http://a.example:8080/abs', 'a.example:80'), /^HTTP\/1\.1 400/);
  // The authority ends at `?` too: what follows is not a path (Envoy refuses it as well), not a `/` found in the query.
  const before = backend.requests.length;
  assert.match(await exchange('http://a.example?to=/admin', 'a.example'), /^HTTP\/1\.1 400/);
  assert.equal(backend.requests.length, before, 'nothing reached the upstream');
});

test('fields named as Object.prototype members are fields like any other (Envoy passes them): a request with `__proto__` is served, a response with it relayed', async () => {
  const out = await rawExchange(gw, 'GET /proto HTTP/1.1\r\nHost: a.example\r\n__proto__: x\r\nconstructor: y\r\nConnection: close\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 200/);
  assert.match(out, /"constructor":"y"/);
  let seen = '';
  const origin = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', (d) => {
      seen = d.toString('latin1');
      s.end('HTTP/1.1 200 OK\r\n__proto__: p\r\nconstructor: c\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
    });
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  try {
    push(env.proxy, [...resources(), cluster('raw'), cla('raw', [{ port: (origin.address() as net.AddressInfo).port }]), routeConfig('proto', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'raw' }] }]), listener('proto', 8443, [{ filter: hcm('proto') }])], 'v2');
    const answer = await rawExchange(await env.port('proto'), 'GET / HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(answer, /\r\n__proto__: p\r\n/);
    assert.match(answer, /\r\nconstructor: c\r\n/);
    assert.match(answer, /\r\n\r\nok$/);
    // A request's `__proto__` reaches the upstream; repeated, as the one field it is, never as the header
    // object's prototype (whose entries would have gone out as fields named 0 and 1).
    await rawExchange(await env.port('proto'), 'GET / HTTP/1.1\r\nHost: b.example\r\n__proto__: x1\r\n__proto__: x2\r\nConnection: close\r\n\r\n');
    assert.match(seen, /\r\n__proto__: x1, x2\r\n|\r\n__proto__: x1\r\n__proto__: x2\r\n/);
    assert.doesNotMatch(seen, /\r\n[01]: /);
  } finally {
    origin.close();
  }
});
