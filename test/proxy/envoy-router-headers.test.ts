// The headers Envoy's router and connection manager add, as an Istio user sees them through a real proxy:
// x-envoy-upstream-service-time on responses; x-envoy-attempt-count (include_request_attempt_count,
// which Istio sets; a mirror's copy says 1), x-envoy-original-path (a rewrite) and x-envoy-expected-rq-timeout-ms upstream;
// x-forwarded-proto kept by a sidecar HCM and set by an edge one; and the route's response header
// mutations on the router's own replies (504 UT, 503 UF).
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { until } from '../resilience/fake-clock.ts';
import { cla, closedPort, cluster, echoBackend, hcm, listener, push, request, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
/** The mirror cluster's app: every copy it got. */
let shadow: Awaited<ReturnType<typeof echoBackend>>;
let sidecarPort: number;
let edgePort: number;
/** Answers 503 to the first try of each request id, 200 after. */
const tries = new Map<string, number>();

const routeHeader = { header: { key: 'x-route', value: 'r' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };

function routes(): TypedAny {
  return {
    '@type': TypeUrl.RouteConfiguration,
    name: 'r',
    virtual_hosts: [
      {
        name: 'api:80',
        domains: ['*'],
        include_request_attempt_count: true,
        routes: [
          { name: 'rewrite', match: { prefix: '/old' }, route: { cluster: 'echo', prefix_rewrite: '/new', timeout: { seconds: 0 } } },
          {
            name: 'mirrored',
            match: { prefix: '/flaky-mirrored' },
            route: { cluster: 'echo', timeout: { seconds: 10 }, retry_policy: { retry_on: '5xx', num_retries: { value: 2 } }, request_mirror_policies: [{ cluster: 'shadow' }] },
          },
          {
            name: 'retried',
            match: { prefix: '/flaky' },
            route: { cluster: 'echo', timeout: { seconds: 10 }, retry_policy: { retry_on: '5xx', num_retries: { value: 2 }, per_try_timeout: { seconds: 3 } } },
          },
          { name: 'slow', match: { prefix: '/slow' }, response_headers_to_add: [routeHeader], route: { cluster: 'echo', timeout: { nanos: 100_000_000 } } },
          { name: 'dead', match: { prefix: '/dead' }, response_headers_to_add: [routeHeader], route: { cluster: 'dead', timeout: { seconds: 0 } } },
          { name: 'plain', match: { prefix: '/' }, route: { cluster: 'echo', timeout: { seconds: 0 } } },
        ],
      },
    ],
  };
}

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const id = String(req.headers['x-request-id']);
  if (req.url?.startsWith('/flaky')) {
    const n = (tries.get(id) ?? 0) + 1;
    tries.set(id, n);
    if (n === 1) {
      res.writeHead(503).end();
      return;
    }
  }
  if (req.url?.startsWith('/slow')) return; // never answers: the route's timeout does
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ url: req.url, headers: req.headers }));
}

before(async () => {
  backend = await echoBackend(handler);
  shadow = await echoBackend();
  env = await startProxy();
  const dead = await closedPort();
  push(env.proxy, [
    cluster('echo'),
    cla('echo', [{ port: backend.port }]),
    cluster('dead'),
    cla('dead', [{ port: dead }]),
    cluster('shadow'),
    cla('shadow', [{ port: shadow.port }]),
    listener('sidecar', 15001, [{ filter: hcm('r') }]),
    listener('edge', 8080, [{ filter: hcm('r', { use_remote_address: { value: true } }) }]),
    routes(),
  ]);
  sidecarPort = await env.port('sidecar');
  edgePort = await env.port('edge');
});

after(async () => {
  await env.close();
  backend.server.closeAllConnections();
  backend.server.close();
  shadow.server.closeAllConnections();
  shadow.server.close();
});

const seen = (body: string) => JSON.parse(body) as { url: string; headers: Record<string, string> };

test('x-envoy-upstream-service-time on upstream responses; x-envoy-attempt-count on every try', async () => {
  const plain = await request(sidecarPort, '/x');
  assert.equal(plain.status, 200);
  assert.match(String(plain.headers['x-envoy-upstream-service-time']), /^\d+$/);
  assert.equal(seen(plain.body).headers['x-envoy-attempt-count'], '1');
  const retried = await request(sidecarPort, '/flaky');
  assert.equal(retried.status, 200);
  assert.equal(seen(retried.body).headers['x-envoy-attempt-count'], '2', 'the second try says so');
});

test('a mirror gets x-envoy-attempt-count 1, as Envoy copies the shadow headers after the first try sets it, whatever the primary retries', async () => {
  const retried = await request(sidecarPort, '/flaky-mirrored');
  assert.equal(retried.status, 200);
  assert.equal(seen(retried.body).headers['x-envoy-attempt-count'], '2', 'the primary was retried once');
  await until(() => shadow.requests.length === 1, 'the mirror got its copy');
  const copy = shadow.requests[0] as http.IncomingMessage;
  assert.equal(copy.headers.host, 'echo.example.com-shadow', 'the copy goes to the -shadow authority');
  assert.equal(copy.headers['x-envoy-attempt-count'], '1', 'the copy says 1, never retried itself');
});

test('x-envoy-original-path after a rewrite; x-envoy-expected-rq-timeout-ms when a timeout applies', async () => {
  const r = seen((await request(sidecarPort, '/old/a?q=1')).body);
  assert.equal(r.url, '/new/a?q=1');
  assert.equal(r.headers['x-envoy-original-path'], '/old/a?q=1');
  assert.equal(r.headers['x-envoy-expected-rq-timeout-ms'], undefined, 'timeout 0: none expected');
  const plain = seen((await request(sidecarPort, '/x')).body);
  assert.equal(plain.headers['x-envoy-original-path'], undefined);
  // The per-try timeout (3 s) is shorter than the route's (10 s): that is what a try may expect.
  assert.equal(seen((await request(sidecarPort, '/flaky')).body).headers['x-envoy-expected-rq-timeout-ms'], '3000');
});

test("x-forwarded-proto: a sidecar keeps the client's, an edge (use_remote_address) sets the connection's", async () => {
  const sidecar = (h: Record<string, string> = {}) => request(sidecarPort, '/x', { headers: h }).then((r) => seen(r.body).headers['x-forwarded-proto']);
  assert.equal(await sidecar({ 'x-forwarded-proto': 'https' }), 'https');
  assert.equal(await sidecar(), 'http');
  const edge = await request(edgePort, '/x', { headers: { 'x-forwarded-proto': 'https' } });
  assert.equal(seen(edge.body).headers['x-forwarded-proto'], 'http');
});

test("the router's own replies carry the route's response header mutations (504 UT, 503 UF)", async () => {
  const slow = await request(sidecarPort, '/slow');
  assert.equal(slow.status, 504);
  assert.equal(slow.headers['x-envoy-response-flags'], 'UT');
  assert.equal(slow.headers['x-route'], 'r');
  const dead = await request(sidecarPort, '/dead');
  assert.equal(dead.status, 503);
  assert.equal(dead.headers['x-envoy-response-flags'], 'UF');
  assert.equal(dead.headers['x-route'], 'r');
});
