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
import { buildTelemetryConfig, type TelemetryInputs, telemetryHttpFilters, translateTelemetryFilter } from './telemetry.ts';
import type { TrafficDirection } from './options.ts';

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
  // No `http:`: OTLP over gRPC, as Envoy exports for Istio.
  assert.deepEqual(config.tracing?.provider, { name: 'otel', kind: 'opentelemetry', protocol: 'grpc', service: 'otel-collector.observability.svc.cluster.local', port: 4317 });
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

/** A default tracing provider, for tests of Telemetry tracing entries that name none. */
const zipkinDefault = {
  defaultProviders: { tracing: ['zipkin'] },
  extensionProviders: [{ name: 'zipkin', zipkin: { service: 'zipkin.istio-system.svc.cluster.local', port: 9411 } }],
} satisfies TelemetryInputs['mesh'];

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
  // Telemetry tracing needs a provider (none: tracing off, as pilot's Telemetries.Tracing).
  const mesh = { accessLogFile: '/dev/stdout', ...zipkinDefault };
  const inbound = buildTelemetryConfig(base(t, mesh));
  assert.equal(inbound.tracing?.sampling, 50);
  assert.deepEqual(inbound.tracing?.custom_tags, { env: { literal: { value: 'prod' } } });
  assert.equal(inbound.access_log, undefined);
  const outbound = buildTelemetryConfig({ ...base(t, mesh), direction: 'outbound' });
  assert.equal(outbound.tracing?.sampling, 20, 'the SERVER-only entry does not apply to client spans');
  const elsewhere = buildTelemetryConfig({ ...base(t, mesh), workload: { namespace: 'data', labels: {} } });
  assert.equal(elsewhere.tracing?.sampling, 5);
  assert.deepEqual(elsewhere.access_log, { path: '/dev/stdout', encoding: 'TEXT' });
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
  const mesh = { defaultConfig: { tracing: { custom_tags: { legacy: { literal: { value: 'x' } } } } }, ...zipkinDefault };
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

test('tracing providers as Envoy exports them: OTLP/gRPC without http, OTLP/HTTP with it, Zipkin to /api/v2/spans', () => {
  const mesh = {
    extensionProviders: [
      { name: 'grpc', opentelemetry: { service: 'observability/otel.observability.svc.cluster.local', port: 4317, grpc: { timeout: '2s', initialMetadata: [{ name: 'x-tenant', value: 'shop' }] } } },
      {
        name: 'http',
        opentelemetry: {
          service: 'otel.observability.svc.cluster.local',
          port: 4318,
          http: { path: 'otlp//v1/traces', timeout: '1.5s', headers: [{ name: 'Authorization', value: 'Api-Token t' }, { name: 'x-key', envName: 'OTEL_KEY' }, { name: 'x-empty' }] },
        },
      },
      { name: 'http-no-path', opentelemetry: { service: 'otel.observability.svc.cluster.local', port: 4318, http: {} } },
      { name: 'zipkin', zipkin: { service: 'jaeger.observability.svc.cluster.local', port: 9411 } },
      { name: 'zipkin-path', zipkin: { service: 'jaeger.observability.svc.cluster.local', port: 9411, path: 'custom/spans', timeout: '250ms', headers: [{ name: 'x-a', value: 'b' }] } },
    ],
  };
  const provider = (name: string) => {
    const config = buildTelemetryConfig(base([], { ...mesh, defaultProviders: { tracing: [name] } }));
    // The proxy takes exactly what translation writes.
    const typed = translateTelemetryFilter(base([], { ...mesh, defaultProviders: { tracing: [name] } })).typed_config;
    assert.deepEqual(parseTelemetryConfig(typed, { workload: 'web', namespace: 'shop', labels: {} }).tracing?.provider, config.tracing?.provider);
    return config.tracing?.provider;
  };
  assert.deepEqual(provider('grpc'), {
    name: 'grpc',
    kind: 'opentelemetry',
    protocol: 'grpc',
    service: 'otel.observability.svc.cluster.local',
    port: 4317,
    timeout_ms: 2000,
    headers: [{ name: 'x-tenant', value: 'shop' }],
  });
  assert.deepEqual(provider('http'), {
    name: 'http',
    kind: 'opentelemetry',
    protocol: 'http',
    service: 'otel.observability.svc.cluster.local',
    port: 4318,
    path: '/otlp/v1/traces',
    timeout_ms: 1500,
    headers: [
      { name: 'Authorization', value: 'Api-Token t' },
      { name: 'x-key', env_name: 'OTEL_KEY' },
      { name: 'x-empty', value: '' },
    ],
  });
  // Pilot joins the service and an empty path into a URI without one, which Envoy sends to `/`.
  assert.deepEqual(provider('http-no-path'), { name: 'http-no-path', kind: 'opentelemetry', protocol: 'http', service: 'otel.observability.svc.cluster.local', port: 4318, path: '/' });
  assert.deepEqual(provider('zipkin'), { name: 'zipkin', kind: 'zipkin', service: 'jaeger.observability.svc.cluster.local', port: 9411, path: '/api/v2/spans' });
  assert.deepEqual(provider('zipkin-path'), {
    name: 'zipkin-path',
    kind: 'zipkin',
    service: 'jaeger.observability.svc.cluster.local',
    port: 9411,
    path: '/custom/spans',
    timeout_ms: 250,
    headers: [{ name: 'x-a', value: 'b' }],
  });
});

test("the seed's providers: otel on 4317 is OTLP/gRPC, jaeger on 9411 is Zipkin", () => {
  const { resources } = loadPaths([seedDir]);
  const mesh = buildSnapshot(resources, [], '1').mesh.raw;
  const withProvider = (name: string) => buildTelemetryConfig(base([], { ...mesh, defaultProviders: { tracing: [name] } })).tracing?.provider;
  assert.deepEqual(withProvider('otel'), { name: 'otel', kind: 'opentelemetry', protocol: 'grpc', service: 'otel-collector.observability.svc.cluster.local', port: 4317 });
  assert.deepEqual(withProvider('jaeger'), { name: 'jaeger', kind: 'zipkin', service: 'jaeger-collector.observability.svc.cluster.local', port: 9411, path: '/api/v2/spans' });
});

test("Telemetry precedence as pilot's getTelemetries: the oldest wins a level, an empty selector is namespace-wide", () => {
  const t = telemetries(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: a-newer, namespace: shop, creationTimestamp: "2025-06-01T00:00:00Z" }
spec: { tracing: [{ randomSamplingPercentage: 50 }] }
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: z-older, namespace: shop, creationTimestamp: "2023-01-01T00:00:00Z" }
spec: { tracing: [{ randomSamplingPercentage: 7 }] }
`);
  assert.equal(buildTelemetryConfig(base(t, zipkinDefault)).tracing?.sampling, 7, 'sortConfigByCreationTime: the oldest, not the first by name');
  const sameAge = telemetries(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: a-empty-selector, namespace: shop, creationTimestamp: "2025-01-01T00:00:00Z" }
spec: { selector: { matchLabels: {} }, tracing: [{ randomSamplingPercentage: 99 }] }
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: c-workload, namespace: shop, creationTimestamp: "2025-01-01T00:00:00Z" }
spec: { selector: { matchLabels: { app: web } }, tracing: [{ randomSamplingPercentage: 4 }] }
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: b-workload, namespace: shop, creationTimestamp: "2025-01-01T00:00:00Z" }
spec: { selector: { matchLabels: { app: web } }, tracing: [{ randomSamplingPercentage: 3, customTags: { t: { literal: { value: b } } } }] }
`);
  const cfg = buildTelemetryConfig(base(sameAge, zipkinDefault));
  // selector {} is the namespace level (99); of the workload ones created in the same second, the first by name.
  assert.equal(cfg.tracing?.sampling, 3);
  assert.deepEqual(cfg.tracing?.custom_tags, { t: { literal: { value: 'b' } } });
  assert.equal(buildTelemetryConfig({ ...base(sameAge, zipkinDefault), workload: { namespace: 'shop', labels: {} } }).tracing?.sampling, 99);
});

test('Telemetry targetRefs: a Gateway API Gateway ref attaches to its pods (gateway-name label), as AuthorizationPolicy does', () => {
  const t = telemetries(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: gw-tracing, namespace: shop }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: gw }]
  tracing: [{ randomSamplingPercentage: 42 }]
`);
  const gatewayPod = (namespace: string, name: string) => ({ ...base(t, zipkinDefault), direction: 'outbound' as const, workload: { namespace, labels: { 'gateway.networking.k8s.io/gateway-name': name } } });
  assert.equal(buildTelemetryConfig(gatewayPod('shop', 'gw')).tracing?.sampling, 42);
  assert.equal(buildTelemetryConfig(gatewayPod('shop', 'other')).tracing?.sampling, 1, 'another gateway');
  assert.equal(buildTelemetryConfig(gatewayPod('data', 'gw')).tracing?.sampling, 1, 'a gateway of that name in another namespace');
  assert.equal(buildTelemetryConfig(base(t, zipkinDefault)).tracing?.sampling, 1, 'a sidecar: a targetRefs policy is not namespace-wide');
});

test("metrics providers as pilot's mergeMetrics: by type, names ignoring case, overrides only from entries for prometheus", () => {
  const named = (provider: string) =>
    telemetries(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh, namespace: istio-system }
spec: { metrics: [{ providers: [{ name: ${provider} }] }] }
`);
  const prom = { extensionProviders: [{ name: 'prom', prometheus: {} }] } satisfies TelemetryInputs['mesh'];
  assert.equal(buildTelemetryConfig(base(named('prom'), prom)).metrics, true, 'a prometheus provider of another name');
  assert.equal(buildTelemetryConfig(base(named('Prometheus'))).metrics, true, 'strings.EqualFold');
  assert.equal(buildTelemetryConfig(base(named('stackdriver'))).metrics, false, 'no prometheus provider in scope');
  assert.equal(buildTelemetryConfig(base(named('missing'))).metrics, false);
  assert.equal(buildTelemetryConfig(base([], { defaultProviders: { metrics: [] } })).metrics, false);
  const t = telemetries(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh, namespace: istio-system }
spec:
  metrics:
    - providers: [{ name: stackdriver }]
      overrides: [{ match: { metric: ALL_METRICS }, disabled: true }]
    - overrides: [{ match: { metric: REQUEST_SIZE }, disabled: true }]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: ns, namespace: shop }
spec: { metrics: [{ providers: [{ name: prometheus }], overrides: [{ match: { metric: REQUEST_COUNT }, disabled: true }] }] }
`);
  const cfg = buildTelemetryConfig(base(t));
  assert.equal(cfg.metrics, true, "the stackdriver entries' overrides do not touch prometheus");
  assert.deepEqual(cfg.metric_overrides, [{ name: 'requests_total', drop: true }]);
});

test("access logs merged as pilot's mergeLogs (Istio 1.20): scope, filters, modes and the accessLogFile fallback", () => {
  // Specs separated by `---`: the first in the root namespace, the others in the workload's.
  const logging = (yaml: string) => {
    const specs = yaml.split('---');
    const out = telemetries(specs.map((spec, i) => `apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: { name: t${i}, namespace: ${i === 0 ? 'istio-system' : 'shop'} }\nspec: ${spec.trim()}`).join('\n---\n'));
    assert.equal(out.length, specs.length);
    return out;
  };
  const mesh = { accessLogFile: '/dev/stdout' };
  const log = (t: Telemetry[], m: TelemetryInputs['mesh'] = mesh, direction: TrafficDirection = 'inbound') => buildTelemetryConfig({ ...base(t, m), direction }).access_log;
  // No provider and no defaultProviders.accessLogging: nothing, and no accessLogFile log either.
  assert.equal(log(logging('{}\n---\n{ accessLogging: [{ filter: { expression: "response.code >= 400" } }] }')), undefined);
  // An entry without providers keeps the filter of the last entry that named the provider.
  assert.deepEqual(log(logging('{ accessLogging: [{ providers: [{ name: envoy }], filter: { expression: "response.code >= 400" } }] }\n---\n{ accessLogging: [{ disabled: false }] }')), {
    path: '/dev/stdout',
    encoding: 'TEXT',
    filter: 'response.code >= 400',
  });
  // Logging for CLIENT only: none on the server side, and no accessLogFile log there; the client side logs.
  const client = logging('{}\n---\n{ accessLogging: [{ match: { mode: CLIENT }, providers: [{ name: envoy }] }] }');
  assert.equal(log(client), undefined);
  assert.deepEqual(log(client, mesh, 'outbound'), { path: '/dev/stdout', encoding: 'TEXT' });
  // A later level naming another provider takes the earlier one out of scope; disabled removes it.
  const file = { ...mesh, extensionProviders: [{ name: 'file', envoyFileAccessLog: { path: '/tmp/f.log' } }] };
  assert.deepEqual(log(logging('{ accessLogging: [{ providers: [{ name: envoy }] }] }\n---\n{ accessLogging: [{ providers: [{ name: FILE }] }] }'), file), { path: '/tmp/f.log', encoding: 'TEXT' });
  assert.equal(log(logging('{ accessLogging: [{ providers: [{ name: envoy }] }] }\n---\n{ accessLogging: [{ disabled: true }] }')), undefined);
  // defaultProviders alone log, without any Telemetry; the built-in `envoy` writes to its own path in meshConfig's format.
  const json = { accessLogFile: '/tmp/mesh.log', accessLogEncoding: 'JSON' as const, defaultProviders: { accessLogging: ['envoy'] } };
  assert.deepEqual(log([], json), { path: '/dev/stdout', encoding: 'JSON' });
  assert.deepEqual(log([]), { path: '/dev/stdout', encoding: 'TEXT' }, 'no Telemetry logging: meshConfig.accessLogFile');
  // Several providers: one log each, in provider name order (pilot's AccessLogging sorts them).
  const two = { extensionProviders: [{ name: 'b', envoyFileAccessLog: { path: '/tmp/b.log' } }, { name: 'a', envoyFileAccessLog: { path: '/tmp/a.log' } }] };
  assert.deepEqual(log(logging('{ accessLogging: [{ providers: [{ name: b }, { name: a }] }] }'), two), [
    { path: '/tmp/a.log', encoding: 'TEXT' },
    { path: '/tmp/b.log', encoding: 'TEXT' },
  ]);
});

test('several access-log providers: one log each, with its own path, format and filter (buildAccessLogFromTelemetry)', () => {
  const mesh: TelemetryInputs['mesh'] = {
    accessLogEncoding: 'JSON',
    extensionProviders: [
      { name: 'errors', envoyFileAccessLog: { path: '/var/log/errors.log', logFormat: { text: '%RESPONSE_CODE% %REQ(:PATH)%' } } },
      { name: 'audit', envoyFileAccessLog: { path: '/var/log/audit.log', logFormat: { labels: { path: '%REQ(:PATH)%' } } } },
      { name: 'als', envoyOtelAls: { service: 'otel.observability.svc.cluster.local', port: 4317 } },
    ],
  };
  const t = telemetries(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh, namespace: istio-system }
spec:
  accessLogging:
  - providers: [{ name: errors }]
    filter: { expression: "response.code >= 400" }
  - providers: [{ name: audit }, { name: envoy }, { name: als }]
`);
  const audit = { path: '/var/log/audit.log', encoding: 'JSON', json_format: { path: '%REQ(:PATH)%' } };
  const envoy = { path: '/dev/stdout', encoding: 'JSON' };
  const errors = { path: '/var/log/errors.log', encoding: 'TEXT', format: '%RESPONSE_CODE% %REQ(:PATH)%', filter: 'response.code >= 400' };
  // By provider name; the OpenTelemetry ALS provider writes no file log and takes no place among them.
  for (const direction of ['inbound', 'outbound'] as const) assert.deepEqual(buildTelemetryConfig({ ...base(t, mesh), direction }).access_log, [audit, envoy, errors]);
  // The proxy takes the list as translation writes it.
  const entry = translateTelemetryFilter(base(t, mesh));
  assert.deepEqual(parseTelemetryConfig(entry.typed_config, { workload: 'w', namespace: 'podinfo', labels: {} }).access_log, [audit, envoy, errors]);
  // A mode-scoped entry: its provider logs on that side only.
  const clientOnly = telemetries(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh, namespace: istio-system }
spec:
  accessLogging:
  - providers: [{ name: errors }, { name: audit }]
  - match: { mode: SERVER }
    providers: [{ name: audit }]
    disabled: true
`);
  assert.deepEqual(buildTelemetryConfig(base(clientOnly, mesh)).access_log, { path: '/var/log/errors.log', encoding: 'TEXT', format: '%RESPONSE_CODE% %REQ(:PATH)%' });
  assert.deepEqual(buildTelemetryConfig({ ...base(clientOnly, mesh), direction: 'outbound' }).access_log, [audit, { path: '/var/log/errors.log', encoding: 'TEXT', format: '%RESPONSE_CODE% %REQ(:PATH)%' }]);
});

test("tracing as pilot's Telemetries.Tracing: no resolvable provider turns it off; defaultConfig sampling 0 is unset, above 100 is 1 %", () => {
  const t = telemetries(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh, namespace: istio-system }
spec: { tracing: [{ randomSamplingPercentage: 10 }] }
`);
  assert.equal(buildTelemetryConfig(base(t)).tracing, undefined, 'no provider named and no default: no legacy Zipkin');
  assert.equal(buildTelemetryConfig(base(t, { ...zipkinDefault, defaultProviders: { tracing: ['missing'] } })).tracing, undefined, 'an unknown provider');
  assert.equal(buildTelemetryConfig(base(t, { defaultProviders: { tracing: ['prometheus'] } })).tracing, undefined, 'a provider that does not trace');
  assert.equal(buildTelemetryConfig(base(t, { ...zipkinDefault, defaultProviders: { tracing: ['ZIPKIN'] } })).tracing?.provider?.name, 'zipkin', 'strings.EqualFold');
  const serverOnly = telemetries(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh, namespace: istio-system }
spec: { tracing: [{ match: { mode: SERVER }, providers: [{ name: zipkin }] }] }
`);
  const mesh = { extensionProviders: zipkinDefault.extensionProviders };
  assert.equal(buildTelemetryConfig(base(serverOnly, mesh)).tracing?.provider?.name, 'zipkin');
  assert.equal(buildTelemetryConfig({ ...base(serverOnly, mesh), direction: 'outbound' }).tracing, undefined, 'the client spec has no provider');
  const sampling = (s: number) => buildTelemetryConfig(base([], { defaultConfig: { tracing: { sampling: s } } })).tracing?.sampling;
  assert.deepEqual([sampling(0), sampling(150), sampling(100), sampling(0.5)], [1, 1, 100, 0.5]);
  assert.equal(buildTelemetryConfig(base([], { enableTracing: false, ...zipkinDefault })).tracing?.provider?.name, 'zipkin', 'defaultProviders.tracing ignores enableTracing');
});

test("disableSpanReporting turns the mode's tracing off, as pilot's Disabled spec gives the HCM no tracing; a later false turns it on", () => {
  const t = telemetries(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh, namespace: istio-system }
spec: { tracing: [{ randomSamplingPercentage: 100 }, { match: { mode: SERVER }, disableSpanReporting: true }] }
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: web, namespace: shop }
spec: { selector: { matchLabels: { app: web } }, tracing: [{ disableSpanReporting: false }] }
`);
  const inShop = (direction: TrafficDirection) => buildTelemetryConfig({ ...base(t, zipkinDefault), workload: { namespace: 'shop', labels: {} }, direction }).tracing;
  assert.equal(inShop('inbound'), undefined, 'no tracing at all for SERVER: no sampling, no context written, no spans');
  assert.equal(inShop('outbound')?.sampling, 100, 'CLIENT keeps tracing');
  assert.equal(buildTelemetryConfig(base(t, zipkinDefault)).tracing?.provider?.name, 'zipkin', 'the workload entry turns reporting back on');
});
