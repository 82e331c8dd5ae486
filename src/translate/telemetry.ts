// Telemetry for one proxy: Istio's Telemetry resources (root namespace, then namespace, then
// workload selector, the more specific overriding field by field) over meshConfig (enableTracing,
// defaultConfig.tracing, extensionProviders, accessLogFile/Encoding/Format) → the `istio.stats`
// filter config. Pure: no I/O, no clock.
import type { Telemetry } from '../config/resource.ts';
import type { ExtensionProvider, MeshConfig } from '../config/types/other.ts';
import type { AccessLogging, CustomTag, Tracing } from '../config/types/telemetry.ts';
import { matchesLabels } from '../model/labels.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import type {
  AccessLogConfig,
  CustomTagConfig,
  MetricOverrideConfig,
  SamplingRule,
  TelemetryFilterConfig,
  TracingConfig,
  TracingProviderConfig,
} from '../telemetry/filter-config.ts';
import { samplingRulesFromCollectorConfig } from '../telemetry/tracing/tail-sampling-rules.ts';
import { typedStruct } from '../xds/any.ts';
import { OutriggerExtension } from '../xds/type-urls.ts';
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

const ISTIO_DEFAULT_SAMPLING = 1;

/** The Telemetry resources that apply to a workload, least specific first. */
export function selectTelemetries(all: readonly Telemetry[], rootNamespace: string, namespace: string, labels: Readonly<Record<string, string>>): Telemetry[] {
  const byName = (a: Telemetry, b: Telemetry) => a.metadata.name.localeCompare(b.metadata.name);
  const noSelector = (t: Telemetry) => !t.spec.selector && !t.spec.targetRef && !t.spec.targetRefs;
  const mesh = all.filter((t) => t.metadata.namespace === rootNamespace && noSelector(t)).sort(byName)[0];
  const ns = namespace === rootNamespace ? undefined : all.filter((t) => t.metadata.namespace === namespace && noSelector(t)).sort(byName)[0];
  const workload = all.filter((t) => t.metadata.namespace === namespace && t.spec.selector?.matchLabels && matchesLabels(t.spec.selector.matchLabels, labels)).sort(byName)[0];
  return [mesh, ns, workload].filter((t): t is Telemetry => t !== undefined);
}

/**
 * What the outbound telemetry filter depends on besides the snapshot: the Telemetry resources that
 * apply to the proxy (by namespace and workload selector), by name. With the scope key it keys the
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

/** Field-by-field merge of the tracing entries that apply to this direction, least specific first. */
function mergeTracing(levels: readonly Telemetry[], direction: TrafficDirection): Tracing | undefined {
  let out: Tracing | undefined;
  for (const t of levels) {
    for (const tr of t.spec.tracing ?? []) {
      if (!modeApplies(tr.match?.mode, direction)) continue;
      out = { ...out, ...Object.fromEntries(Object.entries(tr).filter(([, v]) => v !== undefined)) };
    }
  }
  return out;
}

function mergeAccessLogging(levels: readonly Telemetry[], direction: TrafficDirection): AccessLogging | undefined {
  let out: AccessLogging | undefined;
  for (const t of levels) for (const a of t.spec.accessLogging ?? []) if (modeApplies(a.match?.mode, direction)) out = a;
  return out;
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
 * The Prometheus metrics of one mode, merged as pilot's mergeMetrics does: levels least specific first,
 * overrides in order, a later one winning per metric and per tag; `ALL_METRICS` (or no match) with
 * `disabled: true` turns the mode off until a later override for that mode names metrics again.
 */
function buildMetrics(levels: readonly Telemetry[], direction: TrafficDirection): { enabled: boolean; overrides: MetricOverrideConfig[] } {
  let provider = true;
  let allDisabled = false;
  const merged = new Map<string, { disabled?: boolean; tags: Map<string, { operation?: string; value?: string }> }>();
  for (const t of levels) {
    for (const m of t.spec.metrics ?? []) {
      if (m.providers?.length) provider = m.providers.some((p) => p.name === 'prometheus');
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
  }
  const overrides: MetricOverrideConfig[] = [];
  for (const [name, e] of [...merged].sort(([a], [b]) => a.localeCompare(b))) {
    const tags = [...e.tags].sort(([a], [b]) => a.localeCompare(b));
    const remove = tags.filter(([, v]) => v.operation === 'REMOVE').map(([k]) => k);
    const dimensions = Object.fromEntries(tags.filter(([, v]) => v.operation !== 'REMOVE' && v.value).map(([k, v]) => [k, v.value as string]));
    if (!e.disabled && !remove.length && !Object.keys(dimensions).length) continue;
    overrides.push({ name, ...(e.disabled ? { drop: true } : {}), ...(remove.length ? { tags_to_remove: remove } : {}), ...(Object.keys(dimensions).length ? { dimensions } : {}) });
  }
  return { enabled: provider && !allDisabled, overrides };
}

function customTag(c: CustomTag | Record<string, unknown>): CustomTagConfig | undefined {
  const t = c as CustomTag;
  if (t.literal) return { literal: { value: t.literal.value } };
  if (t.environment) return { environment: { name: t.environment.name, ...(t.environment.defaultValue !== undefined ? { default_value: t.environment.defaultValue } : {}) } };
  if (t.header) return { header: { name: t.header.name, ...(t.header.defaultValue !== undefined ? { default_value: t.header.defaultValue } : {}) } };
  return undefined;
}

function tracingProvider(p: ExtensionProvider | undefined): TracingProviderConfig | undefined {
  if (p?.opentelemetry) return { name: p.name, kind: 'opentelemetry', service: p.opentelemetry.service, port: p.opentelemetry.port, path: p.opentelemetry.http?.path ?? '/v1/traces' };
  if (p?.zipkin) return { name: p.name, kind: 'zipkin', service: p.zipkin.service, port: p.zipkin.port };
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

function buildTracing(inputs: TelemetryInputs, levels: readonly Telemetry[]): TracingConfig | undefined {
  const mesh = inputs.mesh;
  const tr = mergeTracing(levels, inputs.direction);
  if (!tr && mesh.enableTracing === false) return undefined;
  const providerName = tr?.providers?.[0]?.name ?? mesh.defaultProviders?.tracing?.[0];
  let provider = tracingProvider(mesh.extensionProviders?.find((p) => p.name === providerName));
  if (!provider && !providerName) {
    // Istio's legacy default: Zipkin at zipkin.istio-system:9411 (or defaultConfig.tracing.zipkin.address).
    const [service = 'zipkin.istio-system', port = '9411'] = (mesh.defaultConfig?.tracing?.zipkin?.address ?? '').split(':').filter(Boolean);
    provider = { name: 'zipkin', kind: 'zipkin', service, port: Number(port) };
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
    sampling: tr?.randomSamplingPercentage ?? mesh.defaultConfig?.tracing?.sampling ?? ISTIO_DEFAULT_SAMPLING,
    ...(rules.length ? { rules } : {}),
    ...(Object.keys(tags).length ? { custom_tags: tags } : {}),
    ...(provider ? { provider } : {}),
    ...(tr?.disableSpanReporting ? { disable_span_reporting: true } : {}),
    ...(maxPath ? { max_path_tag_length: maxPath } : {}),
  };
}

function envoyAccessLog(mesh: MeshConfig): AccessLogConfig {
  const encoding = mesh.accessLogEncoding ?? 'TEXT';
  const format = mesh.accessLogFormat;
  const out: AccessLogConfig = { path: mesh.accessLogFile || '/dev/stdout', encoding };
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

function buildAccessLog(inputs: TelemetryInputs, levels: readonly Telemetry[]): AccessLogConfig | undefined {
  const al = mergeAccessLogging(levels, inputs.direction);
  if (al?.disabled) return undefined;
  const log = accessLogDestination(inputs.mesh, al);
  // Envoy's CEL access-log filter (pilot adds it for the provider of the entry that names the filter).
  return log && al?.filter?.expression ? { ...log, filter: al.filter.expression } : log;
}

function accessLogDestination(mesh: MeshConfig, al: AccessLogging | undefined): AccessLogConfig | undefined {
  const names = al?.providers?.map((p) => p.name) ?? mesh.defaultProviders?.accessLogging ?? (al || mesh.accessLogFile ? ['envoy'] : []);
  for (const name of names) {
    const p = mesh.extensionProviders?.find((x) => x.name === name);
    const file = p?.envoyFileAccessLog;
    if (file) {
      const labels = file.logFormat?.labels;
      return labels
        ? { path: file.path || '/dev/stdout', encoding: 'JSON', json_format: labels }
        : { path: file.path || '/dev/stdout', encoding: 'TEXT', ...(file.logFormat?.text ? { format: file.logFormat.text } : {}) };
    }
    if (name === 'envoy' && !p) return envoyAccessLog(mesh);
  }
  return undefined;
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
  const metrics = buildMetrics(levels, inputs.direction);
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
