import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { drive, telemetryConfig } from '../../../../test/telemetry/drive-filter.ts';
import { MemorySink } from '../../../telemetry/access-log/sink.ts';
import type { TelemetryFilterConfig } from '../../../telemetry/filter-config.ts';
import { MetricsRegistry } from '../../../telemetry/metrics/registry.ts';
import { TraceCollector } from '../../../telemetry/tracing/collector.ts';
import type { ExportTimers } from '../../../telemetry/tracing/exporter.ts';
import { FilterConfigError } from '../../http/filter.ts';
import { createTelemetryFilterFactory } from './index.ts';

const manualTimers: ExportTimers = { setInterval: () => 0, clearInterval: () => {} };
const collector = new TraceCollector({ maxTraces: 10 });
const collectorPort = await collector.listen(0);
after(() => collector.close());

function setup() {
  const registry = new MetricsRegistry();
  const sink = new MemorySink();
  let seq = 0;
  const factory = createTelemetryFilterFactory({
    registry,
    random: () => ((seq++ * 0.137) % 1) + 0.0001,
    now: () => 1_700_000_000_250,
    env: { POD_NAME: 'podinfo-stable-0' },
    openAccessLog: () => sink,
    traceEndpoint: () => `http://127.0.0.1:${collectorPort}/v1/traces`,
    exportTimers: manualTimers,
  });
  return { registry, sink, factory };
}

const podinfoWorkload = { workload: 'podinfo-stable', namespace: 'podinfo', labels: { app: 'podinfo', version: 'stable' }, principal: 'spiffe://cluster.local/ns/podinfo/sa/podinfo' };
const sleepWorkload = { workload: 'sleep', namespace: 'podinfo', labels: { app: 'sleep' }, principal: 'spiffe://cluster.local/ns/podinfo/sa/sleep' };
const tracing = {
  sampling: 100,
  rules: [{ url: '.*/healthz$', percentage: 0 }],
  custom_tags: { environment: { literal: { value: 'production' } }, pod_name: { environment: { name: 'POD_NAME', default_value: 'unknown' } }, tenant: { header: { name: 'x-tenant', default_value: 'none' } } },
  provider: { name: 'otel', kind: 'opentelemetry', service: 'otel-collector.observability', port: 4318 },
} satisfies TelemetryFilterConfig['tracing'];

test("a carried connection: the destination's metadata came with the carrier's answer, so responses go without it", async () => {
  const { registry, factory } = setup();
  const src = factory.create(telemetryConfig({ reporter: 'source', workload: sleepWorkload, metrics: true }));
  const dst = factory.create(telemetryConfig({ reporter: 'destination', workload: podinfoWorkload, metrics: true }));
  const answered = { tls: true, peerPrincipal: sleepWorkload.principal, peer: { workload: 'sleep', namespace: 'podinfo', labels: { app: 'sleep' } }, peerAnswered: true };
  // The app's own header of that name is dropped, and the destination does not repeat its metadata.
  const forged = Buffer.from(JSON.stringify({ workload: 'payments', namespace: 'prod', labels: {} })).toString('base64');
  const inbound = await drive(dst, { authority: 'podinfo.podinfo:9898', status: 200, connection: answered, responseHeaders: { 'x-outrigger-peer': forged } });
  assert.equal(inbound.responseHeaders.has('x-outrigger-peer'), false, 'no metadata on a response of a carrier whose source was answered');
  // The source names the destination from what the carrier's CONNECT was answered with.
  const self = Buffer.from(JSON.stringify(podinfoWorkload)).toString('base64');
  await drive(src, { authority: 'podinfo.podinfo:9898', status: 200, clusterName: 'outbound|9898||podinfo.podinfo.svc.cluster.local', upstreamMesh: true, upstreamPrincipal: podinfoWorkload.principal, upstreamPeer: self });
  assert.match(registry.renderPrometheus(), /istio_requests_total\{reporter="source",[^}]*destination_workload="podinfo-stable",destination_workload_namespace="podinfo",[^}]*response_code="200",[^}]*\} 1/);
  await factory.close();
});

test('source and destination filters: peer metadata exchange, Istio labels, spans in one trace, access log', async () => {
  const { registry, sink, factory } = setup();
  const src = factory.create(telemetryConfig({ reporter: 'source', workload: sleepWorkload, metrics: true, tracing }));
  const dst = factory.create(
    telemetryConfig({ reporter: 'destination', workload: podinfoWorkload, services: [{ host: 'podinfo.podinfo.svc.cluster.local', name: 'podinfo', namespace: 'podinfo', ports: [9898] }], metrics: true, tracing, access_log: { path: '/dev/stdout', encoding: 'TEXT' } }),
  );
  // The source sidecar starts the trace; the destination continues it from the forwarded headers.
  const out = await drive(src, { authority: 'podinfo.podinfo:9898', path: '/api/info', status: 200, clusterName: 'outbound|9898||podinfo.podinfo.svc.cluster.local', headers: { 'x-tenant': 'acme' } });
  const forwarded = Object.fromEntries(out.ctx.request.headers) as Record<string, string>;
  assert.match(forwarded['traceparent'] ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.ok(forwarded['x-request-id']);
  const peer = { tls: true, peerPrincipal: sleepWorkload.principal, peer: { workload: 'sleep', namespace: 'podinfo', labels: { app: 'sleep' } } };
  // Over the tunnel the request is parsed as https; its client's x-forwarded-proto says http.
  const inbound = await drive(dst, { authority: 'podinfo.podinfo:9898', path: '/api/info', status: 200, headers: { ...forwarded, 'x-forwarded-proto': 'http' }, scheme: 'https', connection: peer, responseBytes: 42 });
  assert.ok(inbound.responseHeaders.get('x-outrigger-peer'), 'destination answers a mesh peer with its metadata');
  // Replay the source's response hook with the destination's header, as the tunnel would deliver it.
  const again = await drive(src, { authority: 'podinfo.podinfo:9898', status: 503, clusterName: 'outbound|9898||podinfo.podinfo.svc.cluster.local', flags: ['URX', 'UF'], upstreamMesh: true, responseHeaders: { 'x-outrigger-peer': String(inbound.responseHeaders.get('x-outrigger-peer')) } });
  assert.equal(again.responseHeaders.has('x-outrigger-peer'), false, 'the source strips mesh metadata before the app sees it');

  const text = registry.renderPrometheus();
  assert.match(text, /istio_requests_total\{reporter="destination",source_workload="sleep",source_workload_namespace="podinfo",source_principal="spiffe:\/\/cluster.local\/ns\/podinfo\/sa\/sleep",source_app="sleep",[^}]*destination_workload="podinfo-stable",[^}]*destination_service="podinfo.podinfo.svc.cluster.local",destination_service_name="podinfo",destination_service_namespace="podinfo",[^}]*request_protocol="http",response_code="200",grpc_response_status="",response_flags="-",connection_security_policy="mutual_tls"\} 1/);
  assert.match(text, /istio_requests_total\{reporter="source",source_workload="sleep",[^}]*destination_workload="unknown",[^}]*destination_service_name="podinfo",[^}]*response_code="200",[^}]*connection_security_policy="unknown"\} 1/);
  assert.match(text, /istio_requests_total\{reporter="source",[^}]*destination_workload="podinfo-stable",destination_workload_namespace="podinfo",[^}]*destination_version="stable",[^}]*response_code="503",grpc_response_status="",response_flags="URX,UF",[^}]*\} 1/);
  assert.match(text, /istio_response_bytes_bucket\{reporter="destination",[^}]*le="100"\} 1/);

  assert.equal(sink.lines.length, 1);
  assert.match(sink.lines[0] ?? '', /^\[2023-11-14T22:13:20.000Z\] "GET \/api\/info HTTP\/1.1" 200 - via_upstream - "-" 0 42 1 - "-" "-" "[0-9a-f-]{36}" "podinfo.podinfo:9898" "-" - - 127.0.0.1:9898 127.0.0.1:40000 - -\n$/);

  // Both spans reach the real collector over OTLP/HTTP JSON, in one trace, parent → child.
  await factory.close();
  const traceId = forwarded['traceparent']?.split('-')[1] ?? '';
  const trace = collector.trace(traceId);
  assert.equal(trace?.spans.length, 2);
  const client = trace?.spans.find((s) => s.kind === 3);
  const server = trace?.spans.find((s) => s.kind === 2);
  assert.equal(server?.parentSpanId, client?.spanId);
  assert.equal(client?.serviceName, 'sleep.podinfo');
  const attrs = Object.fromEntries((server?.attributes ?? []).map((a) => [a.key, a.value.stringValue]));
  assert.equal(attrs['environment'], 'production');
  assert.equal(attrs['pod_name'], 'podinfo-stable-0');
  assert.equal(attrs['tenant'], 'acme');
  assert.equal(attrs['http.url'], 'http://podinfo.podinfo:9898/api/info', "the client's scheme, as Envoy builds the URL from x-forwarded-proto");
});

test('per-path rule: a health check at 0 % is propagated unsampled and not exported', async () => {
  const { factory } = setup();
  const f = factory.create(telemetryConfig({ reporter: 'destination', workload: podinfoWorkload, metrics: false, tracing }));
  const before = collector.accepted;
  const d = await drive(f, { authority: 'podinfo:9898', path: '/healthz', status: 200 });
  assert.match(String(d.ctx.request.headers.get('traceparent')), /-00$/);
  assert.equal(d.ctx.request.headers.get('x-b3-sampled'), '0');
  await factory.close();
  assert.equal(collector.accepted, before);
});

test('an unreachable collector does not fail the request path or the metrics', async () => {
  const registry = new MetricsRegistry();
  const factory = createTelemetryFilterFactory({ registry, traceEndpoint: () => 'http://127.0.0.1:1/v1/traces', exportTimers: manualTimers });
  const f = factory.create(telemetryConfig({ reporter: 'destination', workload: podinfoWorkload, metrics: true, tracing }));
  await drive(f, { authority: 'podinfo:9898', status: 200 });
  await factory.close();
  assert.match(registry.renderPrometheus(), /istio_requests_total\{[^}]*response_code="200"[^}]*\} 1/);
});

test('bad config NACKs with the field path', () => {
  const { factory } = setup();
  assert.throws(() => factory.create(telemetryConfig({ reporter: 'sideways', workload: podinfoWorkload, metrics: true } as unknown as TelemetryFilterConfig)), (e: unknown) => e instanceof FilterConfigError && /reporter/.test(e.message));
  assert.throws(() => factory.create(telemetryConfig({ reporter: 'source', workload: podinfoWorkload, metrics: true, tracing: { sampling: 150 } })), /tracing\.sampling/);
  assert.throws(() => factory.create(telemetryConfig({ reporter: 'source', workload: podinfoWorkload, metrics: true, access_log: { path: '/dev/stdout', encoding: 'TEXT', format: '%NOPE%' } })), /unsupported access log command %NOPE%/);
});

test('bad config lists every problem with its path: unknown fields, missing fields, wrong types and ranges', () => {
  const { factory } = setup();
  const bad = {
    reporter: 'source',
    workload: { workload: 'w', namespace: 'n', labels: { app: 7 } },
    services: [{ host: '', name: 's', namespace: 'n', ports: [80.5] }],
    tracing: {
      sampling: 10,
      custom_tags: { both: { literal: { value: 'x' }, header: { name: 'h' } }, empty: { header: { name: '' } } },
      provider: { name: 'p', kind: 'jaeger', service: 's', port: 70000, path: 'v1/traces' },
      max_path_tag_length: 0,
    },
    access_log: { path: '/dev/stdout', encoding: 'TEXT', colour: 'blue' },
    extra: true,
  };
  const message = (() => {
    try {
      factory.create(telemetryConfig(bad as unknown as TelemetryFilterConfig));
    } catch (e) {
      assert.ok(e instanceof FilterConfigError);
      return e.message;
    }
    assert.fail('a bad config was accepted');
  })();
  for (const problem of [
    'metrics: required',
    'workload.labels.app: expected a string',
    'services.0.host: must not be empty',
    'services.0.ports.0: expected an integer',
    'tracing.custom_tags.both: expected exactly one of literal, environment, header',
    'tracing.custom_tags.empty.header.name: must not be empty',
    'tracing.provider.kind: expected one of "opentelemetry", "zipkin"',
    'tracing.provider.port: must be at most 65535',
    'tracing.provider.path: must start with "/"',
    'tracing.max_path_tag_length: must be at least 1',
    'access_log.colour: unknown field',
    'extra: unknown field',
  ]) {
    assert.ok(message.includes(problem), `missing "${problem}" in: ${message}`);
  }
});

test('the checker reads own fields only: inherited names are unknown, a __proto__ key is a key, integers are safe', () => {
  const { factory } = setup();
  const problems = (config: unknown) => {
    try {
      factory.create(telemetryConfig(config as TelemetryFilterConfig));
    } catch (e) {
      assert.ok(e instanceof FilterConfigError);
      return e.message;
    }
    return '';
  };
  const base = { reporter: 'source', workload: podinfoWorkload, metrics: true };
  assert.match(problems(JSON.parse('{"reporter":"source","metrics":true,"constructor":1}')), /constructor: unknown field/);
  assert.match(problems({ ...base, tracing: { sampling: 1, custom_tags: { t: { valueOf: 'x' } } } }), /tracing\.custom_tags\.t: expected exactly one of/);
  assert.match(problems({ ...base, access_log: { path: '/dev/stdout', encoding: 'TEXT', isPrototypeOf: 'x' } }), /access_log\.isPrototypeOf: unknown field/);
  // Several logs (one per provider): each item checked, named by its index.
  assert.match(problems({ ...base, access_log: [{ path: '/dev/stdout', encoding: 'TEXT' }, { encoding: 'XML' }] }), /access_log\.1\.path: required; access_log\.1\.encoding: expected one of "TEXT", "JSON"$/);
  assert.match(problems({ ...base, services: [{ host: 'a', name: 'a', namespace: 'n', ports: [1e20] }] }), /services\.0\.ports\.0: expected an integer/);
  // Through the Struct both ways, a `__proto__` key is an unknown field, not a prototype hiding the required ones.
  const smuggled = JSON.parse('{"__proto__":{"reporter":"source","metrics":true}}') as object;
  assert.match(problems(smuggled), /reporter: required; metrics: required; __proto__: unknown field/);
});

test('an inbound request names the service from its cluster metadata, as translation leaves it to the cluster', async () => {
  const registry = new MetricsRegistry();
  const stable = [{ host: 'podinfo.podinfo.svc.cluster.local', name: 'podinfo', namespace: 'podinfo' }];
  let byCluster: Record<string, readonly { host: string; name: string; namespace: string }[]> = { 'inbound|9898||': stable };
  const factory = createTelemetryFilterFactory({ registry, clusterServices: (name) => byCluster[name] });
  const dst = factory.create(telemetryConfig({ reporter: 'destination', workload: podinfoWorkload, metrics: true }));
  // Routed to the port's cluster, and answered before routing (no cluster chosen): both count against it.
  await drive(dst, { authority: 'podinfo.podinfo:9898', status: 200, clusterName: 'inbound|9898||' });
  await drive(dst, { authority: 'podinfo.podinfo:9898', status: 403, flags: ['UAEX'] });
  const text = () => registry.renderPrometheus();
  assert.match(text(), /istio_requests_total\{reporter="destination",[^}]*destination_service="podinfo.podinfo.svc.cluster.local",destination_service_name="podinfo",[^}]*response_code="200"[^}]*\} 1/);
  assert.match(text(), /istio_requests_total\{reporter="destination",[^}]*destination_service_name="podinfo",[^}]*response_code="403"[^}]*\} 1/);
  // A CDS update that adds a service to the cluster shows in the next request, without a new filter.
  byCluster = { 'inbound|9898||': [{ host: 'podinfo-stable.podinfo.svc.cluster.local', name: 'podinfo-stable', namespace: 'podinfo' }, ...stable] };
  await drive(dst, { authority: 'podinfo-stable.podinfo:9898', status: 200, clusterName: 'inbound|9898||' });
  assert.match(text(), /istio_requests_total\{reporter="destination",[^}]*destination_service_name="podinfo-stable",[^}]*response_code="200"[^}]*\} 1/);
  // A port whose cluster names no service reports the workload's canonical service, in its namespace:
  // Istio's inbound listeners never fall back to the Host header.
  await drive(dst, { authority: 'other:9898', status: 200, clusterName: 'inbound|7070||' });
  assert.match(text(), /istio_requests_total\{reporter="destination",[^}]*destination_service="podinfo",destination_service_name="podinfo",destination_service_namespace="podinfo",[^}]*\} 1/);
  assert.doesNotMatch(text(), /destination_service="other"/);
});

test("a workload behind several services on one port reports its cluster's first service, whatever the Host, as Istio's stats filter does", async () => {
  const registry = new MetricsRegistry();
  // Pilot's order (creation time, then hostname): `podinfo-canary.…` sorts before `podinfo.…`.
  const services = [
    { host: 'podinfo-canary.podinfo.svc.cluster.local', name: 'podinfo-canary', namespace: 'podinfo' },
    { host: 'podinfo.podinfo.svc.cluster.local', name: 'podinfo', namespace: 'podinfo' },
  ];
  const factory = createTelemetryFilterFactory({ registry, clusterServices: (name) => (name === 'inbound|9898||' ? services : undefined) });
  const dst = factory.create(telemetryConfig({ reporter: 'destination', workload: { ...podinfoWorkload, workload: 'podinfo-canary', labels: { app: 'podinfo', version: 'canary' } }, metrics: true }));
  const peer = { tls: true, peerPrincipal: sleepWorkload.principal, peer: { workload: 'sleep', namespace: 'podinfo', labels: { app: 'sleep' } } };
  // The client called `podinfo` by name; the gateway's Host names no service at all.
  await drive(dst, { authority: 'podinfo.podinfo.svc.cluster.local:9898', status: 200, clusterName: 'inbound|9898||', connection: peer });
  await drive(dst, { authority: 'podinfo.example.com', status: 200, clusterName: 'inbound|9898||', connection: peer });
  const text = registry.renderPrometheus();
  assert.match(text, /istio_requests_total\{reporter="destination",[^}]*destination_service="podinfo-canary.podinfo.svc.cluster.local",destination_service_name="podinfo-canary",[^}]*response_code="200"[^}]*\} 2/);
  assert.doesNotMatch(text, /destination_service_name="podinfo"/);
});
