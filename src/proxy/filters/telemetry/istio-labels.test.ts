// What each reporter labels a request with when the peer is not known (a local reply, a failed
// connection, no route), as Istio's stats filter does (istio/proxy `istio_stats.cc`, populatePeerInfo).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type DriveRequest, drive, telemetryConfig } from '../../../../test/telemetry/drive-filter.ts';
import type { TelemetryFilterConfig } from '../../../telemetry/filter-config.ts';
import { MetricsRegistry } from '../../../telemetry/metrics/registry.ts';
import { CONTINUE, type HttpFilter } from '../../http/filter.ts';
import { createTelemetryFilterFactory } from './index.ts';

const sleep = { workload: 'sleep', namespace: 'shop', labels: { app: 'sleep' }, principal: 'spiffe://cluster.local/ns/shop/sa/sleep' };
const podinfo = { workload: 'podinfo-stable', namespace: 'podinfo', labels: { app: 'podinfo', version: 'stable' }, principal: 'spiffe://cluster.local/ns/podinfo/sa/podinfo' };
const podinfoCluster = 'outbound|9898||podinfo.podinfo.svc.cluster.local';

function filter(config: Omit<TelemetryFilterConfig, 'metrics'>) {
  const registry = new MetricsRegistry();
  const f = createTelemetryFilterFactory({ registry }).create(telemetryConfig({ metrics: true, ...config }));
  const series = () =>
    registry
      .renderPrometheus()
      .split('\n')
      .filter((l) => l.startsWith('istio_requests_total{'))
      .map((l) => Object.fromEntries([...l.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]])) as Record<string, string>);
  return { f, series };
}

/** The labels of the one request recorded, restricted to the keys of `want`. */
function only(series: Record<string, string>[], want: Record<string, string>): Record<string, string> {
  assert.equal(series.length, 1, `one series, got ${JSON.stringify(series)}`);
  const s = series[0] ?? {};
  return Object.fromEntries(Object.keys(want).map((k) => [k, s[k] ?? '(absent)']));
}

test('source, fault-injected abort: the service of the route and its namespace (Istio 1.23+), no destination workload, revision latest', async () => {
  const { f, series } = filter({ reporter: 'source', workload: sleep });
  await drive(f, { authority: 'podinfo.podinfo:9898', status: 503, clusterName: podinfoCluster, flags: ['FI'] });
  const want = {
    destination_service: 'podinfo.podinfo.svc.cluster.local',
    destination_service_name: 'podinfo',
    destination_service_namespace: 'podinfo',
    destination_workload: 'unknown',
    destination_workload_namespace: 'unknown',
    destination_canonical_service: 'unknown',
    destination_canonical_revision: 'latest',
    destination_principal: 'unknown',
    response_code: '503',
    response_flags: 'FI',
    connection_security_policy: 'unknown',
  };
  assert.deepEqual(only(series(), want), want);
});

test('source, connect failure (UF): the namespace of the endpoint it tried, from its istio.workload metadata', async () => {
  const { f, series } = filter({ reporter: 'source', workload: sleep });
  await drive(f, { authority: 'podinfo.podinfo:9898', status: 503, clusterName: podinfoCluster, upstreamWorkload: 'podinfo-stable-0;podinfo', flags: ['URX', 'UF'] });
  const want = { destination_service_name: 'podinfo', destination_service_namespace: 'podinfo', destination_workload_namespace: 'podinfo', destination_workload: 'unknown', response_flags: 'URX,UF' };
  assert.deepEqual(only(series(), want), want);
});

test('source, answered by the destination: the service namespace is the peer namespace', async () => {
  const { f, series } = filter({ reporter: 'source', workload: sleep });
  const peer = Buffer.from(JSON.stringify({ workload: 'podinfo-stable', namespace: 'podinfo', labels: podinfo.labels, principal: podinfo.principal })).toString('base64');
  await drive(f, { authority: 'podinfo.podinfo:9898', status: 200, clusterName: podinfoCluster, upstreamMesh: true, responseHeaders: { 'x-outrigger-peer': peer } });
  const want = { destination_service_namespace: 'podinfo', destination_workload: 'podinfo-stable', destination_canonical_revision: 'stable' };
  assert.deepEqual(only(series(), want), want);
});

test("source: the destination principal is the one the peer's certificate proved, not the one its metadata claims", async () => {
  const { f, series } = filter({ reporter: 'source', workload: sleep });
  const claim = Buffer.from(JSON.stringify({ workload: 'podinfo-stable', namespace: 'podinfo', labels: podinfo.labels, principal: 'spiffe://cluster.local/ns/prod/sa/payments' })).toString('base64');
  await drive(f, { authority: 'podinfo.podinfo:9898', status: 200, clusterName: podinfoCluster, upstreamMesh: true, upstreamTls: true, upstreamPrincipal: podinfo.principal, responseHeaders: { 'x-outrigger-peer': claim } });
  const want = { destination_workload: 'podinfo-stable', destination_principal: podinfo.principal };
  assert.deepEqual(only(series(), want), want);
});

// Istio's populatePeerInfo reads both principals from the upstream's SSL connection: a DestinationRule
// DISABLE hop (the tunnel carries it marked plaintext) has none, though metadata exchange names the peer.
test('source, plaintext mesh hop (tls DISABLE): the peer is named, both principals unknown', async () => {
  const { f, series } = filter({ reporter: 'source', workload: sleep });
  const peer = Buffer.from(JSON.stringify({ workload: 'podinfo-stable', namespace: 'podinfo', labels: podinfo.labels, principal: podinfo.principal })).toString('base64');
  await drive(f, { authority: 'podinfo.podinfo:9898', status: 200, clusterName: podinfoCluster, upstreamMesh: true, upstreamTls: false, upstreamPrincipal: podinfo.principal, responseHeaders: { 'x-outrigger-peer': peer } });
  const want = { destination_workload: 'podinfo-stable', destination_principal: 'unknown', source_principal: 'unknown' };
  assert.deepEqual(only(series(), want), want);
});

test('sidecar outbound, no route (NR): the Host header names the service', async () => {
  const { f, series } = filter({ reporter: 'source', workload: sleep });
  await drive(f, { authority: 'nosuch.example.com:8080', status: 404, flags: ['NR'] });
  const want = { destination_service: 'nosuch.example.com:8080', destination_service_name: 'nosuch.example.com:8080', destination_service_namespace: 'unknown', destination_canonical_revision: 'latest', response_flags: 'NR' };
  assert.deepEqual(only(series(), want), want);
});

test('sidecar outbound, passthrough: the Host header and the passthrough cluster name', async () => {
  const { f, series } = filter({ reporter: 'source', workload: sleep });
  await drive(f, { authority: 'example.org', status: 200, clusterName: 'PassthroughCluster' });
  const want = { destination_service: 'example.org', destination_service_name: 'PassthroughCluster', destination_service_namespace: 'unknown' };
  assert.deepEqual(only(series(), want), want);
});

test('gateway, no route (NR): no Host header fallback (Istio disables it for gateways), the service is unknown', async () => {
  const { f, series } = filter({ reporter: 'source', workload: { workload: 'istio-ingressgateway', namespace: 'istio-system', labels: { app: 'istio-ingressgateway' } }, disable_host_header_fallback: true });
  await drive(f, { authority: 'nosuch.example.com', status: 404, flags: ['NR'] });
  const want = { destination_service: 'unknown', destination_service_name: 'unknown', destination_service_namespace: 'unknown', destination_workload: 'unknown' };
  assert.deepEqual(only(series(), want), want);
});

test('destination, plaintext caller outside the mesh: source unknown with revision latest, security none', async () => {
  const { f, series } = filter({ reporter: 'destination', workload: podinfo, services: [{ host: 'podinfo.podinfo.svc.cluster.local', name: 'podinfo', namespace: 'podinfo' }] });
  await drive(f, { authority: 'podinfo:9898', status: 200, clusterName: 'inbound|9898||' });
  const want = { source_workload: 'unknown', source_workload_namespace: 'unknown', source_principal: 'unknown', source_canonical_service: 'unknown', source_canonical_revision: 'latest', source_cluster: 'unknown', connection_security_policy: 'none' };
  assert.deepEqual(only(series(), want), want);
});

test('destination, a port whose cluster names no service: its own canonical service (no Host fallback inbound, as Istio)', async () => {
  const { f, series } = filter({ reporter: 'destination', workload: podinfo, disable_host_header_fallback: true });
  await drive(f, { authority: 'other.example:7070', status: 200, clusterName: 'inbound|7070||' });
  const want = { destination_service: 'podinfo', destination_service_name: 'podinfo', destination_service_namespace: 'podinfo', destination_workload: 'podinfo-stable' };
  assert.deepEqual(only(series(), want), want);
});

// populatePeerInfo takes this side's principal from the hop's TLS: the downstream connection's on the
// destination side (io.istio.local_principal, else its local certificate), the upstream connection's on the
// source side; `unknown` on a plaintext hop, or where no upstream connection was made.
test('destination, plaintext caller: connection_security_policy none and destination_principal unknown; mTLS: its own', async () => {
  const plain = filter({ reporter: 'destination', workload: podinfo });
  await drive(plain.f, { authority: 'podinfo.podinfo:9898', status: 200, clusterName: 'inbound|9898||' });
  const want = { connection_security_policy: 'none', destination_principal: 'unknown', source_principal: 'unknown' };
  assert.deepEqual(only(plain.series(), want), want);
  const mtls = filter({ reporter: 'destination', workload: podinfo });
  await drive(mtls.f, { authority: 'podinfo.podinfo:9898', status: 200, clusterName: 'inbound|9898||', connection: { tls: true, peerPrincipal: sleep.principal } });
  const wantMtls = { connection_security_policy: 'mutual_tls', destination_principal: podinfo.principal, source_principal: sleep.principal };
  assert.deepEqual(only(mtls.series(), wantMtls), wantMtls);
});

test('source: source_principal is its own only over the mesh mTLS; unknown for a fault abort or a plaintext upstream', async () => {
  const cases: [string, DriveRequest, string][] = [
    ['fault abort', { authority: 'podinfo.podinfo:9898', status: 503, clusterName: podinfoCluster, flags: ['FI'] }, 'unknown'],
    ['passthrough', { authority: 'example.com', status: 200, clusterName: 'PassthroughCluster', upstreamMesh: false }, 'unknown'],
    // A mesh endpoint whose connection was never made (UF): no upstream TLS, so no principal.
    ['mesh, connect failed', { authority: 'podinfo.podinfo:9898', status: 503, clusterName: podinfoCluster, upstreamMesh: true, upstreamTls: false, flags: ['URX', 'UF'] }, 'unknown'],
    ['mesh', { authority: 'podinfo.podinfo:9898', status: 200, clusterName: podinfoCluster, upstreamMesh: true, upstreamTls: true }, sleep.principal],
  ];
  for (const [name, r, principal] of cases) {
    const { f, series } = filter({ reporter: 'source', workload: sleep });
    await drive(f, r);
    assert.deepEqual(only(series(), { source_principal: '' }), { source_principal: principal }, name);
  }
});

test("Istio's catch-all routes name the service: block_all BlackHoleCluster, allow_any PassthroughCluster, the Host as destination_service", async () => {
  for (const [route, name, clusterName] of [
    ['block_all', 'BlackHoleCluster', undefined],
    ['allow_any', 'PassthroughCluster', 'outbound|3128||egress-proxy.istio-system.svc.cluster.local'],
  ] as const) {
    const { f, series } = filter({ reporter: 'source', workload: sleep });
    const routed: HttpFilter = {
      onRequest: (ctx) => {
        ctx.info.routeName = route;
        return f.onRequest?.(ctx) ?? CONTINUE;
      },
      onResponse: (ctx, r) => f.onResponse?.(ctx, r),
      onDone: (ctx, o) => f.onDone?.(ctx, o),
    };
    await drive(routed, { authority: 'api.example.com', status: 502, ...(clusterName ? { clusterName } : {}) });
    const want = { destination_service: 'api.example.com', destination_service_name: name };
    assert.deepEqual(only(series(), want), want, route);
  }
});

test('request_protocol from onRequest: a gRPC request answered before istio.stats (its onRequest never ran) is http with no gRPC status', async () => {
  const ran = filter({ reporter: 'source', workload: sleep });
  const grpc = { authority: 'greeter:50051', headers: { 'content-type': 'application/grpc' }, status: 200, grpcStatus: 14, clusterName: 'outbound|50051||greeter.shop.svc.cluster.local' };
  await drive(ran.f, grpc);
  assert.deepEqual(only(ran.series(), { request_protocol: '', grpc_response_status: '' }), { request_protocol: 'grpc', grpc_response_status: '14' });
  for (const reporter of ['source', 'destination'] as const) {
    const skipped = filter({ reporter, workload: sleep });
    const answeredBefore: HttpFilter = { onResponse: (ctx, r) => skipped.f.onResponse?.(ctx, r), onDone: (ctx, o) => skipped.f.onDone?.(ctx, o) };
    await drive(answeredBefore, { ...grpc, flags: ['FI'] });
    assert.deepEqual(only(skipped.series(), { request_protocol: '', grpc_response_status: '' }), { request_protocol: 'http', grpc_response_status: '' }, reporter);
  }
});

test('istio_request_duration_milliseconds records whole ms, truncated (0.7 ms is 0, 1.9 ms is 1), as Istio does', async () => {
  const registry = new MetricsRegistry();
  const f = createTelemetryFilterFactory({ registry }).create(telemetryConfig({ metrics: true, reporter: 'source', workload: sleep }));
  await drive(f, { authority: 'a', status: 200, clusterName: 'outbound|80||a.shop.svc.cluster.local', durationMs: 0.7 });
  await drive(f, { authority: 'a', status: 200, clusterName: 'outbound|80||a.shop.svc.cluster.local', durationMs: 1.9 });
  const lines = registry.renderPrometheus().split('\n');
  const bucket = (le: string) => lines.find((l) => l.startsWith('istio_request_duration_milliseconds_bucket{') && l.includes(`le="${le}"`))?.split(' ').at(-1);
  assert.deepEqual([bucket('0.5'), bucket('1')], ['1', '2']);
  assert.equal(lines.find((l) => l.startsWith('istio_request_duration_milliseconds_sum{'))?.split(' ').at(-1), '1');
});

test('the request path allocates no per-stream state for metrics alone: none for HTTP, one shared mark for gRPC', async () => {
  const { f, series } = filter({ reporter: 'source', workload: sleep });
  const seen: unknown[] = [];
  const watched: HttpFilter = {
    onRequest: (ctx) => {
      const v = f.onRequest?.(ctx) ?? CONTINUE;
      seen.push(ctx.info.telemetry);
      return v;
    },
    onResponse: (ctx, r) => f.onResponse?.(ctx, r),
    onDone: (ctx, o) => f.onDone?.(ctx, o),
  };
  const grpc = { authority: 'greeter:50051', headers: { 'content-type': 'application/grpc' }, status: 200, grpcStatus: 0, clusterName: 'outbound|50051||greeter.shop.svc.cluster.local' };
  await drive(watched, { authority: 'a', status: 200, clusterName: podinfoCluster });
  await drive(watched, grpc);
  await drive(watched, grpc);
  assert.equal(seen[0], undefined, 'HTTP: nothing');
  assert.ok(seen[1] !== undefined && seen[1] === seen[2], 'gRPC: the same mark on every stream');
  assert.deepEqual(
    series().map((s) => s['request_protocol']),
    ['http', 'grpc'],
  );
});
