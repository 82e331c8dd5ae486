// The route timeout a gRPC request's `grpc-timeout` header sets, through a real proxy on the injected
// clock. Istio's outbound routes carry max_grpc_timeout (= the route timeout, 0s without one): Envoy's
// FilterUtility::finalTimeout then takes the header, 0 meaning no timeout unless the maximum is not 0.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { grpcRouteTimeoutMs } from '../../src/proxy/http/router.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { FakeClock, until } from '../resilience/fake-clock.ts';
import { cla, cluster, hcm, listener, push, request, startProxy } from './harness.ts';

/** An upstream that holds each gRPC request until the test lets it answer. */
async function heldUpstream() {
  const held: http.ServerResponse[] = [];
  const server = http.createServer((_q, r) => void held.push(r));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const answer = () => {
    for (const r of held.splice(0)) r.writeHead(200, { 'content-type': 'application/grpc', 'grpc-status': '0' }).end();
  };
  return { server, held, answer, port: (server.address() as AddressInfo).port };
}

async function run(routeExtra: Record<string, unknown>, grpcTimeout: string, advanceMs: number) {
  const clock = new FakeClock();
  const up = await heldUpstream();
  const p = await startProxy({ timers: clock });
  try {
    push(p.proxy, [
      cluster('c'),
      cla('c', [{ port: up.port }]),
      listener('0.0.0.0_8080', 8080, [{ filter: hcm('r') }]),
      { '@type': TypeUrl.RouteConfiguration, name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c', timeout: { seconds: '0' }, ...routeExtra } }] }] },
    ]);
    const port = await p.port('0.0.0.0_8080');
    const res = request(port, '/pkg.Svc/Method', { method: 'POST', headers: { 'content-type': 'application/grpc', 'grpc-timeout': grpcTimeout, te: 'trailers' }, body: '' });
    await until(() => up.held.length === 1, 'the request reached the upstream');
    clock.advance(advanceMs);
    up.answer();
    const r = await res;
    return { status: r.status, grpcStatus: r.headers['grpc-status'], message: r.headers['grpc-message'], flags: r.headers['x-envoy-response-flags'] };
  } finally {
    await p.close();
    up.server.close();
  }
}

test('grpc-timeout: 0m under max_grpc_timeout 0s: no timeout at all (a minute passes, the upstream still answers)', async () => {
  assert.deepEqual(await run({ max_grpc_timeout: { seconds: '0' } }, '0m', 60_000), { status: 200, grpcStatus: '0', message: undefined, flags: undefined });
});

test('grpc-timeout: 0m under max_grpc_timeout 5s: the maximum applies (the route timeout, as a gRPC local reply, after 5 s)', async () => {
  const r = await run({ max_grpc_timeout: { seconds: '5' } }, '0m', 5_000);
  assert.deepEqual([r.status, r.grpcStatus, r.message], [200, '14', 'upstream request timeout']);
});

test('finalTimeout: header or 0, offset only when smaller, then the cap (0: none); max_stream_duration routes keep theirs', () => {
  const old = (max: number, offset = 0, timeoutMs = 15_000) => ({ timeoutMs, grpcTimeoutHeaderMaxMs: max, grpcTimeoutHeaderOffsetMs: offset });
  assert.equal(grpcRouteTimeoutMs(old(0), '0m'), 0);
  assert.equal(grpcRouteTimeoutMs(old(0), undefined), 0, 'no header: infinity, not the route timeout');
  assert.equal(grpcRouteTimeoutMs(old(5000), undefined), 5000);
  assert.equal(grpcRouteTimeoutMs(old(5000), '0m'), 5000);
  assert.equal(grpcRouteTimeoutMs(old(5000), '9S'), 5000);
  assert.equal(grpcRouteTimeoutMs(old(5000), '2S'), 2000);
  assert.equal(grpcRouteTimeoutMs(old(0, 100), '2S'), 1900, 'the offset comes off');
  assert.equal(grpcRouteTimeoutMs(old(0, 100), '100m'), 100, 'not when it would reach 0');
  assert.equal(grpcRouteTimeoutMs(old(1000, 500), '3S'), 1000, 'offset first, then the cap');
  assert.equal(grpcRouteTimeoutMs(old(0), '1u'), 1, 'a fraction of a millisecond rounds up');
  assert.equal(grpcRouteTimeoutMs({ timeoutMs: 7000, grpcTimeoutHeaderMaxMs: undefined, grpcTimeoutHeaderOffsetMs: 0 }, '1S'), 7000, 'a route that reads no header');
  // max_stream_duration (Envoy's "new timeouts", Istio's inbound routes): 0 or less expires at once.
  const msd = { timeoutMs: 0, grpcTimeoutHeaderMaxMs: 0, grpcTimeoutHeaderOffsetMs: 0, maxStreamDurationMs: 0 };
  assert.equal(grpcRouteTimeoutMs(msd, '2S'), 2000);
  assert.equal(grpcRouteTimeoutMs(msd, undefined), 0);
  assert.equal(grpcRouteTimeoutMs(msd, '0m'), 1);
});
