// Telemetry for one proxy: Istio's Telemetry resources (root namespace, then namespace, then
// workload selector or targetRefs, the more specific overriding field by field) over meshConfig
// (enableTracing, defaultConfig.tracing, extensionProviders, defaultProviders,
// accessLogFile/Encoding/Format) → the `istio.stats` filter config. Pure: no I/O, no clock.
import type { Telemetry } from '../config/resource.ts';
import { posix } from 'node:path';
import type { ExtensionProvider, MeshConfig, ProviderHttpHeader } from '../config/types/other.ts';
import type { AccessLogging, CustomTag, ProviderRef, Tracing } from '../config/types/telemetry.ts';
import { creationSecond } from '../model/gateway-api/references.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import type {
  AccessLogConfig,
  CustomTagConfig,
  MetricOverrideConfig,
  SamplingRule,
  TelemetryFilterConfig,
  TracingConfig,
  TracingHeaderConfig,
  TracingProviderConfig,
} from '../telemetry/filter-config.ts';
import { samplingRulesFromCollectorConfig } from '../telemetry/tracing/tail-sampling-rules.ts';
import { typedStruct } from '../xds/any.ts';
import { parseDurationMs } from '../xds/duration.ts';
import { OutriggerExtension } from '../xds/type-urls.ts';
import { policySelects } from './authorization.ts';
import type { HttpFilterBuilder, HttpFilterEntry, NetworkFilterBuilder, TrafficDirection } from './options.ts';

export interface TelemetryInputs {
  mesh: MeshConfig;
  rootNamespace: string;
  /** Every Telemetry resource; selection happens here. */
  telemetries: readonly Telemetry[];
  /** OpenTelemetryCollector resources, for per-path sampling rules (see docs/observability.md). */
  collectors: readonly { metadata: { name: string; namespace: string }; spec: unknown }[];
  /** Where the workload is and its labels, which select Telemetry resources (its identity comes from the proxy's node). */
  workload: { namespace: string; labels: Readonly<Record<string, string>> };
  direction: TrafficDirection;
}

/** PILOT_TRACE_SAMPLING's default, the sampling percentage when nothing sets one. */
const ISTIO_DEFAULT_SAMPLING = 1;

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Pilot's sortConfigByCreationTime, as getTelemetries orders them: oldest first, then by name. */
const byAge = (a: Telemetry, b: Telemetry): number => creationSecond(a) - creationSecond(b) || cmp(a.metadata.name, b.metadata.name);

/** Pilot's namespaceWideTelemetryConfig test: no `selector.matchLabels` (or an empty one) and no targetRefs. */
const namespaceWide = (t: Telemetry): boolean =>
  Object.keys(t.spec.selector?.matchLabels ?? {}).length === 0 && !t.spec.targetRef && !t.spec.targetRefs?.length;

/**
 * The Telemetry resources that apply to a workload, least specific first (pilot's applicableTelemetries):
 * the oldest namespace-wide one of the root namespace, then of the workload's namespace, then the oldest
 * of that namespace that picks the workload by `selector` labels or by a targetRef to its Gateway API
 * Gateway (WorkloadPolicyMatcher.ShouldAttachPolicy, the same test AuthorizationPolicy attaches by).
 */
export function selectTelemetries(all: readonly Telemetry[], rootNamespace: string, namespace: string, labels: Readonly<Record<string, string>>): Telemetry[] {
  const sorted = [...all].sort(byAge);
  const mesh = sorted.find((t) => t.metadata.namespace === rootNamespace && namespaceWide(t));
  const ns = namespace === rootNamespace ? undefined : sorted.find((t) => t.metadata.namespace === namespace && namespaceWide(t));
  // policySelects reads the labels and the namespaces, not the trust domain.
  const target = { workloadLabels: labels, namespace, rootNamespace, trustDomain: '' };
  const workload = sorted.find((t) => t.metadata.namespace === namespace && !namespaceWide(t) && policySelects(t, target));
  return [mesh, ns, workload].filter((t): t is Telemetry => t !== undefined);
}

/**
 * What the outbound telemetry filter depends on besides the snapshot: the Telemetry resources that
 * apply to the proxy (by namespace, workload selector or targetRefs), by name. With the scope key it keys the
 * outbound listener that proxies share (translate/proxy-resources.ts).
 */
export function telemetrySelectionKey(snapshot: MeshSnapshot, proxy: { namespace: string; labels: Readonly<Record<string, string>> }): string {
  // Asked once per proxy for its outbound listener and again by every HCM it gets: computed once.
  const cache = snapshotCache(snapshot);
  let key = cache.selectionKeys.get(proxy);
  if (key === undefined) {
    key = selectTelemetries(cache.telemetries, snapshot.mesh.rootNamespace, proxy.namespace, proxy.labels)
      .map((t) => `${t.metadata.namespace}/${t.metadata.name}`)
      .join(',');
    cache.selectionKeys.set(proxy, key);
  }
  return key;
}

function modeApplies(mode: string | undefined, direction: TrafficDirection): boolean {
  if (!mode || mode === 'CLIENT_AND_SERVER') return true;
  return mode === (direction === 'inbound' ? 'SERVER' : 'CLIENT');
}

/**
 * Field-by-field merge of the tracing entries that apply to this direction, least specific first (pilot's
 * Telemetries.Tracing): an empty `providers` keeps the providers named before it.
 */
function mergeTracing(levels: readonly Telemetry[], direction: TrafficDirection): Tracing | undefined {
  let out: Tracing | undefined;
  for (const t of levels) {
    for (const tr of t.spec.tracing ?? []) {
      if (!modeApplies(tr.match?.mode, direction)) continue;
      out = { ...out, ...Object.fromEntries(Object.entries(tr).filter(([k, v]) => v !== undefined && !(k === 'providers' && !tr.providers?.length))) };
    }
  }
  return out;
}

const providerNames = (providers: readonly ProviderRef[] | undefined): string[] => (providers ?? []).map((p) => p.name);

/** The providers Istio's DefaultMeshConfig defines before meshConfig.extensionProviders. */
const BUILT_IN_PROVIDERS: readonly ExtensionProvider[] = [
  { name: 'prometheus', prometheus: {} },
  { name: 'stackdriver', stackdriver: {} },
  { name: 'envoy', envoyFileAccessLog: { path: '/dev/stdout' } },
];

/**
 * Pilot's fetchProvider: the first provider whose name equals `name` ignoring case (strings.EqualFold),
 * among meshConfig.extensionProviders laid over the built-in ones (ApplyMeshConfig: a provider with a
 * built-in's name replaces it in its place, any other comes after them).
 */
function fetchProvider(mesh: MeshConfig, name: string): ExtensionProvider | undefined {
  const all = BUILT_IN_PROVIDERS.map((b) => mesh.extensionProviders?.find((p) => p.name === b.name) ?? b);
  for (const p of mesh.extensionProviders ?? []) if (!all.includes(p)) all.push(p);
  const folded = name.toLowerCase();
  return all.find((p) => p.name.toLowerCase() === folded);
}

/**
 * Pilot's mergeLogs for one mode: the providers that log, each with the filter of the last entry for this
 * mode that named it. The last level whose entries for this mode name providers sets which are in scope
 * (else defaultProviders.accessLogging); an entry without providers stands for its predecessor's (the
 * first for the defaults'); `disabled: true` removes its providers.
 */
function mergeLogs(levels: readonly (readonly AccessLogging[])[], defaults: readonly string[], direction: TrafficDirection): Map<string, string | undefined> {
  const providers = new Map<string, string | undefined>();
  if (levels.length === 0) {
    for (const d of defaults) providers.set(d, undefined);
    return providers;
  }
  let scope = defaults;
  const filters = new Map<string, string | undefined>();
  for (const level of levels) {
    const named = new Set<string>();
    for (const a of level) {
      if (!modeApplies(a.match?.mode, direction)) continue;
      for (const name of providerNames(a.providers)) {
        named.add(name);
        filters.set(name, a.filter?.expression);
      }
    }
    if (named.size > 0) scope = [...named];
  }
  const inScope = new Set(scope);
  let parent = defaults;
  for (const level of levels) {
    for (const a of level) {
      const names = a.providers?.length ? providerNames(a.providers) : parent;
      parent = names;
      if (!modeApplies(a.match?.mode, direction)) continue;
      for (const name of names) {
        if (!inScope.has(name)) continue;
        if (a.disabled) providers.delete(name);
        else providers.set(name, filters.get(name));
      }
    }
  }
  return providers;
}

/** Telemetry's metric names → Istio's stats names (pilot's metricToPrometheusMetric). */
const PROMETHEUS_METRICS: Readonly<Record<string, string>> = {
  REQUEST_COUNT: 'requests_total',
  REQUEST_DURATION: 'request_duration_milliseconds',
  REQUEST_SIZE: 'request_bytes',
  RESPONSE_SIZE: 'response_bytes',
  TCP_OPENED_CONNECTIONS: 'tcp_connections_opened_total',
  TCP_CLOSED_CONNECTIONS: 'tcp_connections_closed_total',
  TCP_SENT_BYTES: 'tcp_sent_bytes_total',
  TCP_RECEIVED_BYTES: 'tcp_received_bytes_total',
  GRPC_REQUEST_MESSAGES: 'request_messages_total',
  GRPC_RESPONSE_MESSAGES: 'response_messages_total',
};

/**
 * The Prometheus metrics of one mode, merged as pilot's mergeMetrics does: the last entry naming providers
 * sets which are in scope (else defaultProviders.metrics); metrics are on when one of them is a
 * `prometheus` provider (fetchProvider; buildHTTPTelemetryFilter keys on the type, not the name), and only
 * the entries for that provider (an entry without providers stands for its predecessor's) override it:
 * levels least specific first, overrides in order, a later one winning per metric and per tag;
 * `ALL_METRICS` (or no match) with `disabled: true` turns the mode off until a later override for that
 * mode names metrics again.
 */
function buildMetrics(mesh: MeshConfig, levels: readonly Telemetry[], direction: TrafficDirection): { enabled: boolean; overrides: MetricOverrideConfig[] } {
  // Istio's installation sets defaultProviders.metrics to prometheus.
  const defaults = mesh.defaultProviders?.metrics ?? ['prometheus'];
  const entries = levels.flatMap((t) => t.spec.metrics ?? []);
  let scope = defaults;
  for (const m of entries) if (m.providers?.length) scope = providerNames(m.providers);
  // Pilot builds one stats filter per prometheus provider in scope, in name order; the proxy has one.
  const prometheus = [...new Set(scope)].sort(cmp).find((name) => fetchProvider(mesh, name)?.prometheus !== undefined);
  if (prometheus === undefined) return { enabled: false, overrides: [] };
  let allDisabled = false;
  let parent = defaults;
  const merged = new Map<string, { disabled?: boolean; tags: Map<string, { operation?: string; value?: string }> }>();
  for (const m of entries) {
    const names = m.providers?.length ? providerNames(m.providers) : parent;
    parent = names;
    if (!names.includes(prometheus)) continue;
    for (const o of m.overrides ?? []) {
      if (!modeApplies(o.match?.mode, direction)) continue;
      const metric = o.match?.metric;
      if (o.match?.customMetric) continue; // custom metrics are not supported
      const all = !metric || metric === 'ALL_METRICS';
      if (all && o.disabled === true) {
        allDisabled = true;
        continue;
      }
      allDisabled = false;
      for (const name of all ? Object.values(PROMETHEUS_METRICS) : [PROMETHEUS_METRICS[metric] ?? metric]) {
        let e = merged.get(name);
        if (!e) {
          e = { tags: new Map() };
          merged.set(name, e);
        }
        if (o.disabled !== undefined) e.disabled = o.disabled;
        for (const [tag, v] of Object.entries(o.tagOverrides ?? {})) e.tags.set(tag, v);
      }
    }
  }
  const overrides: MetricOverrideConfig[] = [];
  for (const [name, e] of [...merged].sort(([a], [b]) => a.localeCompare(b))) {
    const tags = [...e.tags].sort(([a], [b]) => a.localeCompare(b));
    const remove = tags.filter(([, v]) => v.operation === 'REMOVE').map(([k]) => k);
    const dimensions = Object.fromEntries(tags.filter(([, v]) => v.operation !== 'REMOVE' && v.value).map(([k, v]) => [k, v.value as string]));
    if (!e.disabled && !remove.length && !Object.keys(dimensions).length) continue;
    overrides.push({ name, ...(e.disabled ? { drop: true } : {}), ...(remove.length ? { tags_to_remove: remove } : {}), ...(Object.keys(dimensions).length ? { dimensions } : {}) });
  }
  return { enabled: !allDisabled, overrides };
}

function customTag(c: CustomTag | Record<string, unknown>): CustomTagConfig | undefined {
  const t = c as CustomTag;
  if (t.literal) return { literal: { value: t.literal.value } };
  if (t.environment) return { environment: { name: t.environment.name, ...(t.environment.defaultValue !== undefined ? { default_value: t.environment.defaultValue } : {}) } };
  if (t.header) return { header: { name: t.header.name, ...(t.header.defaultValue !== undefined ? { default_value: t.header.defaultValue } : {}) } };
  return undefined;
}

/** `[namespace/]hostname` → the hostname, as pilot's cluster lookup reads a provider's `service`. */
const providerHost = (service: string): string => service.slice(service.indexOf('/') + 1);

/** A duration setting → milliseconds; absent, unparsable or zero: the proxy's default for the provider. */
function timeoutMs(text: string | undefined): { timeout_ms?: number } {
  const ms = text ? parseDurationMs(text) : undefined;
  return ms ? { timeout_ms: ms } : {};
}

/** Pilot's buildHTTPHeaders: a `value`, else an `envName` (read by the proxy, see docs/observability.md), else empty. */
function exportHeaders(headers: readonly ProviderHttpHeader[] | undefined): { headers?: TracingHeaderConfig[] } {
  const out = (headers ?? [])
    .filter((h) => h.name)
    .map((h): TracingHeaderConfig => (h.value === undefined && h.envName ? { name: h.name, env_name: h.envName } : { name: h.name, value: h.value ?? '' }));
  return out.length ? { headers: out } : {};
}

/**
 * Pilot's configureFromProviderConfig. `opentelemetry` with `http:` is OTLP/HTTP to `service` joined with
 * `http.path` (url.JoinPath, so an empty path is Envoy's `/`); without it, OTLP/gRPC. `zipkin` posts to
 * `path`, `/api/v2/spans` by default (zipkinConfig).
 */
function tracingProvider(p: ExtensionProvider | undefined): TracingProviderConfig | undefined {
  const otel = p?.opentelemetry;
  if (p && otel) {
    const base = { name: p.name, kind: 'opentelemetry', service: providerHost(otel.service), port: otel.port } as const;
    if (otel.http) return { ...base, protocol: 'http', path: posix.normalize(`/${otel.http.path ?? ''}`), ...timeoutMs(otel.http.timeout), ...exportHeaders(otel.http.headers) };
    return { ...base, protocol: 'grpc', ...timeoutMs(otel.grpc?.timeout), ...exportHeaders(otel.grpc?.initialMetadata) };
  }
  const zipkin = p?.zipkin;
  if (p && zipkin) {
    const path = zipkin.path || '/api/v2/spans';
    return {
      name: p.name,
      kind: 'zipkin',
      service: providerHost(zipkin.service),
      port: zipkin.port,
      path: path.startsWith('/') ? path : `/${path}`,
      ...timeoutMs(zipkin.timeout),
      ...exportHeaders(zipkin.headers),
    };
  }
  return undefined;
}

/** Rules of the OpenTelemetryCollector the provider sends to (the operator names its Service `NAME-collector`). */
function collectorRules(provider: TracingProviderConfig | undefined, collectors: TelemetryInputs['collectors']): SamplingRule[] {
  if (provider?.kind !== 'opentelemetry') return [];
  const c = collectors.find((c) => {
    const host = `${c.metadata.name}-collector.${c.metadata.namespace}`;
    return provider.service === host || provider.service.startsWith(`${host}.`);
  });
  return c ? samplingRulesFromCollectorConfig((c.spec as { config?: unknown }).config) : [];
}

/** Pilot's proxyConfigSamplingValue: defaultConfig.tracing.sampling, where 0 means unset and above 100 means 1 %. */
function proxyConfigSampling(mesh: MeshConfig): number {
  const sampling = mesh.defaultConfig?.tracing?.sampling;
  if (!sampling) return ISTIO_DEFAULT_SAMPLING;
  return sampling > 100 ? 1 : sampling;
}

/**
 * Pilot's Telemetries.Tracing and configureTracingFromTelemetry. Without tracing in any applicable
 * Telemetry (whatever its mode) and without defaultProviders.tracing, the legacy mesh config:
 * `enableTracing`, Zipkin at defaultConfig.tracing.zipkin.address. Otherwise the provider is the first
 * of the last entry for this mode that names any, else the first default; none, an unknown one or one
 * that does not trace leaves the spec without provider, disabled: no tracing at all. So does
 * `disableSpanReporting: true` (pilot sets the spec's Disabled, and configureTracingFromTelemetry then
 * gives the HCM no tracing: Envoy neither samples nor touches the trace headers, and reports nothing).
 */
function buildTracing(inputs: TelemetryInputs, levels: readonly Telemetry[]): TracingConfig | undefined {
  const mesh = inputs.mesh;
  const defaults = mesh.defaultProviders?.tracing ?? [];
  const legacy = defaults.length === 0 && !levels.some((t) => t.spec.tracing?.length);
  if (legacy && mesh.enableTracing === false) return undefined;
  const tr = mergeTracing(levels, inputs.direction);
  let provider: TracingProviderConfig | undefined;
  if (legacy) {
    const [service = 'zipkin.istio-system', port = '9411'] = (mesh.defaultConfig?.tracing?.zipkin?.address ?? '').split(':').filter(Boolean);
    provider = { name: 'zipkin', kind: 'zipkin', service, port: Number(port) };
  } else {
    const name = tr?.providers?.[0]?.name ?? defaults[0];
    provider = name === undefined ? undefined : tracingProvider(fetchProvider(mesh, name));
    if (!provider || tr?.disableSpanReporting) return undefined;
  }
  const tags: Record<string, CustomTagConfig> = {};
  // Pilot's configureCustomTags: the Telemetry's tags when it has any, else meshConfig's; never both.
  const telemetryTags = tr?.customTags && Object.keys(tr.customTags).length ? tr.customTags : undefined;
  for (const [k, v] of Object.entries(telemetryTags ?? mesh.defaultConfig?.tracing?.custom_tags ?? {})) {
    const t = customTag(v as CustomTag);
    if (t) tags[k] = t;
  }
  const rules = collectorRules(provider, inputs.collectors);
  const maxPath = mesh.defaultConfig?.tracing?.max_path_tag_length;
  return {
    sampling: tr?.randomSamplingPercentage ?? proxyConfigSampling(mesh),
    ...(rules.length ? { rules } : {}),
    ...(Object.keys(tags).length ? { custom_tags: tags } : {}),
    provider,
    ...(maxPath ? { max_path_tag_length: maxPath } : {}),
  };
}

/** Pilot's FileAccessLogFromMeshConfig: a log to `path` in meshConfig's accessLogEncoding and accessLogFormat. */
function meshAccessLog(mesh: MeshConfig, path: string): AccessLogConfig {
  const encoding = mesh.accessLogEncoding ?? 'TEXT';
  const format = mesh.accessLogFormat;
  const out: AccessLogConfig = { path, encoding };
  if (format && encoding === 'TEXT') out.format = format;
  if (format && encoding === 'JSON') {
    try {
      out.json_format = JSON.parse(format) as Record<string, string>;
    } catch {
      // An unparsable JSON format keeps Istio's default layout; the analyzer reports it.
    }
  }
  return out;
}

/**
 * Pilot's AccessLogging and setHTTPAccessLog (Istio 1.20): when no applicable Telemetry has
 * accessLogging entries (whatever their mode) and defaultProviders.accessLogging is empty, the legacy
 * meshConfig.accessLogFile log; otherwise one log per provider that mergeLogs gives for this mode (which
 * may be none), in provider name order as pilot's AccessLogging sorts them, each with its own filter
 * (buildAccessLogFromTelemetry). One log is written as the object itself, several as a list.
 */
function buildAccessLog(inputs: TelemetryInputs, levels: readonly Telemetry[]): AccessLogConfig | AccessLogConfig[] | undefined {
  const mesh = inputs.mesh;
  const logging = levels.map((t) => t.spec.accessLogging ?? []).filter((l) => l.length > 0);
  const defaults = mesh.defaultProviders?.accessLogging ?? [];
  if (logging.length === 0 && defaults.length === 0) return mesh.accessLogFile ? meshAccessLog(mesh, mesh.accessLogFile) : undefined;
  const logs: { provider: string; log: AccessLogConfig }[] = [];
  for (const [name, filter] of mergeLogs(logging, defaults, inputs.direction)) {
    const provider = fetchProvider(mesh, name);
    const log = provider && fileAccessLog(mesh, provider);
    // Envoy's CEL access-log filter, that of the last entry that named the provider.
    if (provider && log) logs.push({ provider: provider.name, log: filter ? { ...log, filter } : log });
  }
  logs.sort((a, b) => cmp(a.provider, b.provider));
  if (logs.length <= 1) return logs[0]?.log;
  return logs.map((l) => l.log);
}

/**
 * Pilot's telemetryAccessLog for an `envoyFileAccessLog` provider; the built-in `envoy` without logFormat
 * takes meshConfig's format. Other kinds (`envoyOtelAls`) write no log here.
 */
function fileAccessLog(mesh: MeshConfig, p: ExtensionProvider): AccessLogConfig | undefined {
  const file = p.envoyFileAccessLog;
  if (!file) return undefined;
  const path = file.path || '/dev/stdout';
  if (p.name === 'envoy' && !file.logFormat) return meshAccessLog(mesh, path);
  const labels = file.logFormat?.labels;
  return labels ? { path, encoding: 'JSON', json_format: labels } : { path, encoding: 'TEXT', ...(file.logFormat?.text ? { format: file.logFormat.text } : {}) };
}

/**
 * The istio.stats config for one workload and traffic direction. It names no workload: the proxy reads
 * its own from its node metadata, as Istio's stats filter does, so the config depends only on which
 * Telemetry resources apply and the direction, and proxies with the same of both share one filter. The
 * destination service of inbound requests comes from the inbound cluster's `istio.services` metadata.
 */
export function buildTelemetryConfig(inputs: TelemetryInputs): Omit<TelemetryFilterConfig, 'workload'> {
  const w = inputs.workload;
  const levels = selectTelemetries(inputs.telemetries, inputs.rootNamespace, w.namespace, w.labels);
  const tracing = buildTracing(inputs, levels);
  const accessLog = buildAccessLog(inputs, levels);
  const metrics = buildMetrics(inputs.mesh, levels, inputs.direction);
  return {
    reporter: inputs.direction === 'inbound' ? 'destination' : 'source',
    metrics: metrics.enabled,
    ...(metrics.enabled && metrics.overrides.length ? { metric_overrides: metrics.overrides } : {}),
    ...(tracing ? { tracing } : {}),
    ...(accessLog ? { access_log: accessLog } : {}),
  };
}

export function translateTelemetryFilter(inputs: TelemetryInputs): HttpFilterEntry {
  return { name: 'istio.stats', typed_config: typedStruct(OutriggerExtension.Telemetry, buildTelemetryConfig(inputs) as unknown as Record<string, unknown>) };
}

/** Per snapshot: its Telemetry and collector resources, and the filter by direction and selection. */
const perSnapshot = new WeakMap<
  MeshSnapshot,
  { telemetries: Telemetry[]; collectors: MeshSnapshot['resources'][number][]; bySelection: Map<string, HttpFilterEntry[]>; selectionKeys: WeakMap<object, string> }
>();

function snapshotCache(snapshot: MeshSnapshot): NonNullable<ReturnType<typeof perSnapshot.get>> {
  let cache = perSnapshot.get(snapshot);
  if (!cache) {
    cache = {
      telemetries: snapshot.resources.filter((r): r is Telemetry => r.kind === 'Telemetry'),
      collectors: snapshot.resources.filter((r) => r.kind === 'OpenTelemetryCollector'),
      bySelection: new Map(),
      selectionKeys: new WeakMap(),
    };
    perSnapshot.set(snapshot, cache);
  }
  return cache;
}

/**
 * The HttpFilterBuilder for TranslateOptions.httpFilters. The filter depends on the direction and on which
 * Telemetry resources apply, not on the port or the workload (the proxy names itself, and inbound
 * clusters name the services): every HCM with the same of both shares one entry (outputs are never mutated).
 */
export const telemetryHttpFilters: HttpFilterBuilder = (snapshot: MeshSnapshot, proxy, _port, direction) => {
  const cache = snapshotCache(snapshot);
  const key = `${direction}\0${telemetrySelectionKey(snapshot, proxy)}`;
  const known = cache.bySelection.get(key);
  if (known) return known;
  const entries = [
    translateTelemetryFilter({
      mesh: snapshot.mesh.raw,
      rootNamespace: snapshot.mesh.rootNamespace,
      telemetries: cache.telemetries,
      collectors: cache.collectors,
      workload: { namespace: proxy.namespace, labels: proxy.labels },
      direction,
    }),
  ];
  cache.bySelection.set(key, entries);
  return entries;
};

/**
 * The NetworkFilterBuilder for TranslateOptions.tcpFilters: Istio's `istio.stats` network filter in front
 * of tcp_proxy (TCP metrics, and the access log pilot puts on tcp_proxy), with the same config as the
 * HTTP filter of the direction: one Telemetry selection, one entry, shared with the HTTP chains.
 */
export const telemetryTcpFilters: NetworkFilterBuilder = (snapshot, proxy, port, direction) => telemetryHttpFilters(snapshot, proxy, port, direction);
