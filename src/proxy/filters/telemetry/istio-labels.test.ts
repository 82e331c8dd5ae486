// What each reporter labels a request with when the peer is not known (a local reply, a failed
// connection, no route), as Istio's stats filter does (istio/proxy `istio_stats.cc`, populatePeerInfo).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drive, telemetryConfig } from '../../../../test/telemetry/drive-filter.ts';
import type { TelemetryFilterConfig } from '../../../telemetry/filter-config.ts';
import { MetricsRegistry } from '../../../telemetry/metrics/registry.ts';
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
  await drive(f, { authority: 'podinfo.podinfo:9898', status: 200, clusterName: podinfoCluster, upstreamMesh: true, upstreamPrincipal: podinfo.principal, responseHeaders: { 'x-outrigger-peer': claim } });
  const want = { destination_workload: 'podinfo-stable', destination_principal: podinfo.principal };
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
