// The route timeout a gRPC request's `grpc-timeout` header sets, through a real proxy on the injected
// clock. Istio's outbound routes carry max_grpc_timeout (= the route timeout, 0s without one): Envoy's
// FilterUtility::finalTimeout then takes the header, 0 meaning no timeout unless the maximum is not 0.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { grpcRouteTimeoutMs } from '../../src/proxy/http/router.ts';
import { streamDeadline, toGrpcTimeout } from '../../src/proxy/http/stream-timeouts.ts';
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
  const none = { usingNewTimeouts: false, grpcTimeoutHeaderMaxMs: undefined, grpcTimeoutHeaderOffsetMs: 0, maxGrpcTimeoutMs: undefined, grpcTimeoutOffsetMs: 0 };
  const old = (max: number, offset = 0, timeoutMs = 15_000) => ({ ...none, timeoutMs, maxGrpcTimeoutMs: max, grpcTimeoutOffsetMs: offset });
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
  assert.equal(grpcRouteTimeoutMs({ ...none, timeoutMs: 7000 }, '1S'), 7000, 'a route that reads no header');
  assert.equal(grpcRouteTimeoutMs({ ...none, timeoutMs: 7000, grpcTimeoutHeaderMaxMs: 0 }, '1S'), 7000, 'grpc_timeout_header_max is not the router’s');
  // max_stream_duration (Envoy's "new timeouts", Istio's inbound routes): no router timeout at all,
  // whatever the message holds and whatever max_grpc_timeout says.
  const msd = { ...none, usingNewTimeouts: true, timeoutMs: 3000, grpcTimeoutHeaderMaxMs: 0, maxStreamDurationMs: 0 };
  assert.equal(grpcRouteTimeoutMs(msd, '2S'), 0);
  assert.equal(grpcRouteTimeoutMs(msd, undefined), 0);
  assert.equal(grpcRouteTimeoutMs({ ...none, usingNewTimeouts: true, timeoutMs: 3000, maxGrpcTimeoutMs: 1000 }, '2S'), 0, 'a message without max_stream_duration');
});

test('refreshDurationTimeout: the header (capped unless the max is 0, less the offset, 0 when not smaller) or the route max_stream_duration (0: none)', () => {
  const none = { timeoutMs: 0, usingNewTimeouts: false, grpcTimeoutHeaderMaxMs: undefined, grpcTimeoutHeaderOffsetMs: 0, maxGrpcTimeoutMs: undefined, grpcTimeoutOffsetMs: 0 };
  const msd = (maxStreamDurationMs: number | undefined, max: number | undefined, offset = 0) => ({ ...none, usingNewTimeouts: true, grpcTimeoutHeaderMaxMs: max, grpcTimeoutHeaderOffsetMs: offset, maxStreamDurationMs });
  assert.equal(streamDeadline(msd(0, 0), '2S'), 2000);
  assert.equal(streamDeadline(msd(0, 0), undefined), undefined, 'max_stream_duration 0: no timer');
  assert.equal(streamDeadline(msd(0, 0), 'bogus'), undefined);
  assert.equal(streamDeadline(msd(7000, 0), undefined), 7000);
  assert.equal(streamDeadline(msd(7000, undefined), '1S'), 7000, 'no grpc_timeout_header_max: the header is not read');
  assert.equal(streamDeadline(msd(0, 1000), '5S'), 1000);
  assert.equal(streamDeadline(msd(0, 0, 300), '1S'), 700);
  assert.equal(streamDeadline(msd(0, 0, 300), '200m'), 0, 'an offset not smaller leaves 0: expires at once');
  assert.equal(streamDeadline(msd(0, 0), '0m'), 0);
  assert.equal(streamDeadline(msd(undefined, 0), '2S'), 2000, 'a message with grpc_timeout_header_max alone: new timeouts');
  assert.equal(streamDeadline(msd(undefined, 0), undefined), undefined, 'nor max_stream_duration: the HCM’s');
  assert.equal(streamDeadline({ ...msd(0, undefined), maxGrpcTimeoutMs: 0, grpcTimeoutOffsetMs: 100 }, '1S'), undefined, 'max_grpc_timeout is not grpc_timeout_header_max');
  assert.equal(streamDeadline({ ...none, maxGrpcTimeoutMs: 0 }, '1S'), undefined, 'old timeouts: the router takes it');
  assert.deepEqual([toGrpcTimeout(1000), toGrpcTimeout(0), toGrpcTimeout(100_000_000), toGrpcTimeout(86_400_000_000_000)], ['1000m', '0m', '100000S', '24000000H']);
});

test('inbound route shape (max_stream_duration 0, grpc_timeout_header_max 0): grpc-timeout 1S arms the stream duration, DEADLINE_EXCEEDED', async () => {
  const clock = new FakeClock();
  const up = await heldUpstream();
  const seen: http.IncomingHttpHeaders[] = [];
  up.server.on('request', (q: http.IncomingMessage) => void seen.push(q.headers));
  const p = await startProxy({ timers: clock });
  try {
    push(p.proxy, [
      cluster('inbound|9090||'),
      cla('inbound|9090||', [{ port: up.port }]),
      listener('0.0.0.0_9090', 9090, [{ filter: hcm('r') }]),
      {
        '@type': TypeUrl.RouteConfiguration,
        name: 'r',
        virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'inbound|9090||', timeout: { seconds: '0' }, max_stream_duration: { max_stream_duration: { seconds: '0' }, grpc_timeout_header_max: { seconds: '0' } } } }] }],
      },
    ]);
    const port = await p.port('0.0.0.0_9090');
    const res = request(port, '/pkg.Svc/M', { method: 'POST', headers: { 'content-type': 'application/grpc', 'grpc-timeout': '1S', te: 'trailers' }, body: '' });
    await until(() => up.held.length === 1, 'at the app');
    // No router timeout to expect; the connection manager writes the duration it applies (toGrpcTimeout).
    assert.equal(seen[0]?.['x-envoy-expected-rq-timeout-ms'], undefined);
    assert.equal(seen[0]?.['grpc-timeout'], '1000m');
    // Counted from the stream's start (the few real milliseconds routing took come off).
    clock.advance(950);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(up.held[0]?.destroyed, false);
    clock.advance(50);
    const r = await res;
    assert.deepEqual([r.status, r.headers['grpc-status'], r.headers['grpc-message']], [200, '4', 'downstream duration timeout']);
  } finally {
    for (const h of up.held) h.destroy();
    await p.close();
    up.server.close();
  }
});

// Envoy's usingNewTimeouts is the presence of the route's max_stream_duration message
// (`route.route().has_max_stream_duration()`), not of its max_stream_duration field; and
// grpcTimeoutHeaderMax is that message's grpc_timeout_header_max alone, never the deprecated
// max_grpc_timeout (which only the old timeouts read, in the router's finalTimeout).
test('max_stream_duration { grpc_timeout_header_max } alone: new timeouts, grpc-timeout 2S ends the stream as DEADLINE_EXCEEDED (not a router timeout)', async () => {
  const r = await run({ max_stream_duration: { grpc_timeout_header_max: { seconds: '0' } } }, '2S', 2_000);
  assert.deepEqual([r.status, r.grpcStatus, r.message], [200, '4', 'downstream duration timeout']);
});

test('max_stream_duration { max_stream_duration 0s } with max_grpc_timeout: grpc-timeout is not read (no timer; two seconds past 1S the upstream still answers)', async () => {
  const r = await run({ max_stream_duration: { max_stream_duration: { seconds: '0' } }, max_grpc_timeout: { seconds: '0' } }, '1S', 2_000);
  assert.deepEqual(r, { status: 200, grpcStatus: '0', message: undefined, flags: undefined });
});

/** The headers the upstream gets for a gRPC request with `grpc-timeout` on a route with `routeExtra` (answered at once). */
async function upstreamSees(routeExtra: Record<string, unknown>, hcmExtra: Record<string, unknown>, grpcTimeout: string | undefined, contentType = 'application/grpc') {
  const clock = new FakeClock();
  const up = await heldUpstream();
  const seen: http.IncomingHttpHeaders[] = [];
  up.server.on('request', (q: http.IncomingMessage) => void seen.push(q.headers));
  const p = await startProxy({ timers: clock });
  try {
    push(p.proxy, [
      cluster('c'),
      cla('c', [{ port: up.port }]),
      listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', hcmExtra) }]),
      { '@type': TypeUrl.RouteConfiguration, name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c', ...routeExtra } }] }] },
    ]);
    const port = await p.port('0.0.0.0_8080');
    const headers: Record<string, string> = { 'content-type': contentType, te: 'trailers' };
    if (grpcTimeout !== undefined) headers['grpc-timeout'] = grpcTimeout;
    const res = request(port, '/pkg.Svc/M', { method: 'POST', headers, body: '' });
    await until(() => up.held.length === 1, 'the request reached the upstream');
    up.answer();
    await res;
    return { grpcTimeout: seen[0]?.['grpc-timeout'], expected: seen[0]?.['x-envoy-expected-rq-timeout-ms'] };
  } finally {
    await p.close();
    up.server.close();
  }
}

test('an empty max_stream_duration message beside max_grpc_timeout: new timeouts, the router neither times the request by grpc-timeout nor rewrites it', async () => {
  assert.deepEqual(await upstreamSees({ timeout: { seconds: '0' }, max_grpc_timeout: { seconds: '0' }, max_stream_duration: {} }, {}, '3S'), { grpcTimeout: '3S', expected: undefined });
  // Not even to a per-try timeout (setTimeoutHeaders: only `!usingNewTimeouts() && maxGrpcTimeout()`).
  const perTry = { retry_policy: { retry_on: '5xx', per_try_timeout: { seconds: '1' } } };
  assert.deepEqual(await upstreamSees({ ...perTry, timeout: { seconds: '0' }, max_grpc_timeout: { seconds: '0' }, max_stream_duration: {} }, {}, '3S'), { grpcTimeout: '3S', expected: '1000' });
  // The old timeouts (Istio's outbound shape) rewrite it to the router timeout they apply.
  assert.deepEqual(await upstreamSees({ timeout: { seconds: '0' }, max_grpc_timeout: { seconds: '0' } }, {}, '3S'), { grpcTimeout: '3000m', expected: '3000' });
});

test('new timeouts without the route’s max_stream_duration nor a grpc-timeout: the HCM’s max_stream_duration is the one applied, and the upstream is told it', async () => {
  const r = await upstreamSees({ max_stream_duration: { grpc_timeout_header_max: { seconds: '0' } } }, { common_http_protocol_options: { max_stream_duration: { seconds: '5' } } }, undefined);
  assert.deepEqual(r, { grpcTimeout: '5000m', expected: undefined });
});

// FilterUtility::finalTimeout rewrites grpc-timeout for a gRPC request (grpc_request_: isGrpcRequestHeaders)
// only: a gRPC-Web or plain request that carries the header passes it as sent.
test('grpc-timeout is rewritten for a gRPC request only, not for gRPC-Web or a plain request carrying it', async () => {
  const route = { timeout: { seconds: '7' }, max_grpc_timeout: { seconds: '0' } };
  assert.deepEqual(await upstreamSees(route, {}, '3S'), { grpcTimeout: '3000m', expected: '3000' });
  for (const ct of ['application/grpc-web+proto', 'application/json']) assert.deepEqual(await upstreamSees(route, {}, '3S', ct), { grpcTimeout: '3S', expected: '7000' }, ct);
});
