import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { loadPaths } from '../config/load-paths.ts';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { parseTelemetryConfig } from '../proxy/filters/telemetry/config.ts';
import { fromStruct, readTypedStruct } from '../xds/any.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { buildProxyResources } from './proxy-resources.ts';
import { OutriggerExtension } from '../xds/type-urls.ts';
import type { Telemetry } from '../config/resource.ts';
import { buildTelemetryConfig, type TelemetryInputs, telemetryHttpFilters } from './telemetry.ts';

const seedDir = fileURLToPath(new URL('../../examples/seed', import.meta.url));

const podinfo: ProxyView = {
  id: 'sidecar~127.0.0.1~podinfo-stable-0.podinfo~podinfo.svc.cluster.local',
  role: 'sidecar',
  namespace: 'podinfo',
  workloadName: 'podinfo-stable',
  serviceAccount: 'podinfo',
  labels: { app: 'podinfo', version: 'stable' },
  ip: '127.0.0.1',
  appPorts: {},
};

test('the seed gives podinfo 100 % tracing to otel, per-path rules, four custom tags and JSON access logs', () => {
  const { resources } = loadPaths([seedDir]);
  const snapshot = buildSnapshot(resources, [], '1');
  const [entry] = telemetryHttpFilters(snapshot, podinfo, 9898, 'inbound');
  assert.equal(entry?.name, 'istio.stats');
  // Translation names no workload: the proxy takes its own from its node metadata, as Istio's stats filter does.
  assert.equal(readTypedStruct(entry!.typed_config, OutriggerExtension.Telemetry)['workload'], undefined);
  assert.throws(() => parseTelemetryConfig(entry!.typed_config), /no workload in the config, and the proxy node metadata names none/);
  // The proxy compiles exactly what translation emits, with its node's workload.
  const local = { workload: 'podinfo-stable', namespace: 'podinfo', labels: { app: 'podinfo', version: 'stable' }, principal: 'spiffe://cluster.local/ns/podinfo/sa/podinfo', cluster: 'Kubernetes' };
  const config = parseTelemetryConfig(entry!.typed_config, local);
  assert.equal(config.reporter, 'destination');
  assert.deepEqual(config.workload, local);
  // Nor any service: the inbound clusters carry those (istio.services metadata), so workloads share the filter.
  assert.equal(config.services, undefined);
  const cluster = buildProxyResources(snapshot, podinfo).get(TypeUrl.Cluster)?.get('inbound|9898||');
  const metadata = cluster?.['metadata'] as { filter_metadata: { istio: unknown } } | undefined;
  assert.deepEqual(fromStruct(metadata?.filter_metadata.istio)['services'], [
    { host: 'podinfo-stable.podinfo.svc.cluster.local', name: 'podinfo-stable', namespace: 'podinfo' },
    { host: 'podinfo.podinfo.svc.cluster.local', name: 'podinfo', namespace: 'podinfo' },
  ]);
  assert.equal(config.metrics, true);
  assert.equal(config.tracing?.sampling, 100);
  assert.deepEqual(config.tracing?.provider, { name: 'otel', kind: 'opentelemetry', service: 'otel-collector.observability.svc.cluster.local', port: 4317, path: '/v1/traces' });
  assert.deepEqual(config.tracing?.rules?.map((r) => r.percentage), [10, 1]);
  assert.deepEqual(Object.keys(config.tracing?.custom_tags ?? {}).sort(), ['cluster_name', 'environment', 'namespace', 'pod_name']);
  assert.deepEqual(config.tracing?.custom_tags?.['pod_name'], { environment: { name: 'POD_NAME', default_value: 'unknown' } });
  assert.deepEqual(config.access_log, { path: '/dev/stdout', encoding: 'JSON' });
  const [out] = telemetryHttpFilters(snapshot, podinfo, 9898, 'outbound');
  assert.equal(parseTelemetryConfig(out!.typed_config, local).reporter, 'source');
});

const base = (telemetries: Telemetry[], mesh: TelemetryInputs['mesh'] = {}): TelemetryInputs => ({
  mesh,
  rootNamespace: 'istio-system',
  telemetries,
  collectors: [],
  workload: { namespace: 'shop', labels: { app: 'web' } },
  direction: 'inbound',
});

const telemetries = (yaml: string) => loadText(yaml).resources.filter((r): r is Telemetry => r.kind === 'Telemetry');

test('precedence: root namespace, then namespace, then workload selector, field by field', () => {
  const t = telemetries(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh, namespace: istio-system }
spec: { tracing: [{ randomSamplingPercentage: 5, customTags: { env: { literal: { value: prod } } } }] }
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: ns, namespace: shop }
spec: { tracing: [{ randomSamplingPercentage: 20 }], accessLogging: [{ disabled: true }] }
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: web, namespace: shop }
spec: { selector: { matchLabels: { app: web } }, tracing: [{ match: { mode: SERVER }, randomSamplingPercentage: 50 }] }
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: other, namespace: shop }
spec: { selector: { matchLabels: { app: other } }, tracing: [{ randomSamplingPercentage: 99 }] }
`);
  const mesh = { accessLogFile: '/dev/stdout' };
  const inbound = buildTelemetryConfig(base(t, mesh));
  assert.equal(inbound.tracing?.sampling, 50);
  assert.deepEqual(inbound.tracing?.custom_tags, { env: { literal: { value: 'prod' } } });
  assert.equal(inbound.access_log, undefined);
  const outbound = buildTelemetryConfig({ ...base(t, mesh), direction: 'outbound' });
  assert.equal(outbound.tracing?.sampling, 20, 'the SERVER-only entry does not apply to client spans');
  const elsewhere = buildTelemetryConfig({ ...base(t, mesh), workload: { namespace: 'data', labels: {} } });
  assert.equal(elsewhere.tracing?.sampling, 5);
  assert.equal(elsewhere.access_log?.encoding, 'TEXT');
});

test('meshConfig alone: sampling from defaultConfig, Istio default 1 %, enableTracing false turns tracing off', () => {
  assert.equal(buildTelemetryConfig(base([], { defaultConfig: { tracing: { sampling: 7 } } })).tracing?.sampling, 7);
  const d = buildTelemetryConfig(base([]));
  assert.equal(d.tracing?.sampling, 1);
  assert.deepEqual(d.tracing?.provider, { name: 'zipkin', kind: 'zipkin', service: 'zipkin.istio-system', port: 9411 });
  assert.equal(d.access_log, undefined, 'access logs are off by default');
  assert.equal(buildTelemetryConfig(base([], { enableTracing: false })).tracing, undefined);
});

test('metrics overrides disable Istio metrics per mode; file access log providers', () => {
  const t = telemetries(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: ns, namespace: shop }
spec:
  metrics: [{ providers: [{ name: prometheus }], overrides: [{ match: { metric: ALL_METRICS, mode: CLIENT }, disabled: true }] }]
  accessLogging: [{ providers: [{ name: file }] }]
`);
  const mesh = { extensionProviders: [{ name: 'file', envoyFileAccessLog: { path: '/tmp/a.log', logFormat: { labels: { code: '%RESPONSE_CODE%' } } } }] };
  const inbound = buildTelemetryConfig(base(t, mesh));
  assert.equal(inbound.metrics, true);
  assert.deepEqual(inbound.access_log, { path: '/tmp/a.log', encoding: 'JSON', json_format: { code: '%RESPONSE_CODE%' } });
  assert.equal(buildTelemetryConfig({ ...base(t, mesh), direction: 'outbound' }).metrics, false);
});

test('metrics overrides per metric, as pilot merges them: disabled, tagOverrides REMOVE and UPSERT, levels and modes', () => {
  const t = telemetries(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh, namespace: istio-system }
spec:
  metrics:
    - providers: [{ name: prometheus }]
      overrides:
        - match: { metric: ALL_METRICS }
          tagOverrides: { source_principal: { operation: REMOVE }, request_host: { value: request.host } }
        - match: { metric: REQUEST_SIZE, mode: SERVER }
          disabled: true
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: ns, namespace: shop }
spec:
  metrics:
    - overrides:
        - match: { metric: REQUEST_COUNT, mode: CLIENT }
          tagOverrides: { request_host: { operation: REMOVE }, response_code: { value: "string(response.code)" } }
`);
  const inbound = buildTelemetryConfig(base(t));
  const outbound = buildTelemetryConfig({ ...base(t), direction: 'outbound' });
  const byName = (c: typeof inbound) => Object.fromEntries((c.metric_overrides ?? []).map(({ name, ...o }) => [name, o]));
  const everywhere = { tags_to_remove: ['source_principal'], dimensions: { request_host: 'request.host' } };
  assert.deepEqual(byName(inbound), {
    request_bytes: { drop: true, ...everywhere },
    request_duration_milliseconds: everywhere,
    requests_total: everywhere,
    response_bytes: everywhere,
    tcp_connections_closed_total: everywhere,
    tcp_connections_opened_total: everywhere,
    tcp_received_bytes_total: everywhere,
    tcp_sent_bytes_total: everywhere,
    request_messages_total: everywhere,
    response_messages_total: everywhere,
  });
  assert.deepEqual(byName(outbound)['requests_total'], { tags_to_remove: ['request_host', 'source_principal'], dimensions: { response_code: 'string(response.code)' } });
  assert.equal(byName(outbound)['request_bytes']?.drop, undefined, 'the SERVER-only drop does not apply to the client side');
  assert.equal(inbound.metrics, true);
});

test('ALL_METRICS disabled at the root, metrics turned back on by a namespace override, as pilot does', () => {
  const t = telemetries(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh, namespace: istio-system }
spec: { metrics: [{ providers: [{ name: prometheus }], overrides: [{ disabled: true }] }] }
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: ns, namespace: shop }
spec: { metrics: [{ overrides: [{ match: { metric: REQUEST_COUNT }, disabled: false }] }] }
`);
  assert.equal(buildTelemetryConfig(base(t)).metrics, true);
  assert.equal(buildTelemetryConfig({ ...base(t), workload: { namespace: 'data', labels: {} } }).metrics, false);
});

test('accessLogging filter expression reaches the access log config', () => {
  const t = telemetries(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh, namespace: istio-system }
spec: { accessLogging: [{ providers: [{ name: envoy }], filter: { expression: "response.code >= 400" } }] }
`);
  assert.deepEqual(buildTelemetryConfig(base(t)).access_log, { path: '/dev/stdout', encoding: 'TEXT', filter: 'response.code >= 400' });
});

test('Telemetry customTags replace meshConfig custom_tags whole, as pilot (configureCustomTags) does', () => {
  const t = telemetries(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh, namespace: istio-system }
spec: { tracing: [{ customTags: { env: { literal: { value: prod } } } }] }
`);
  const mesh = { defaultConfig: { tracing: { custom_tags: { legacy: { literal: { value: 'x' } } } } } };
  assert.deepEqual(buildTelemetryConfig(base(t, mesh)).tracing?.custom_tags, { env: { literal: { value: 'prod' } } });
  assert.deepEqual(buildTelemetryConfig(base([], mesh)).tracing?.custom_tags, { legacy: { literal: { value: 'x' } } });
});

test('a Telemetry whose CEL does not parse is rejected where it is written, as Istio validation does', () => {
  const { diagnostics } = loadText(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh, namespace: istio-system }
spec:
  accessLogging: [{ filter: { expression: "response.code >=" } }]
  metrics: [{ overrides: [{ tagOverrides: { host: { value: "request.host ==" } } }] }]
`);
  const bad = diagnostics.filter((d) => /must be a valid CEL expression/.test(d.message));
  assert.deepEqual(bad.map((d) => [d.code, d.field, d.span?.start.line]).sort(), [
    ['OR1024', 'spec.accessLogging[0].filter.expression', 6],
    ['OR1024', 'spec.metrics[0].overrides[0].tagOverrides.host.value', 7],
  ]);
});
