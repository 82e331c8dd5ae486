// istio.stats: Istio-style telemetry (metrics, access logs, tracing) as an HTTP filter, and as a network
// filter in front of tcp_proxy (TCP metrics and logs), configured by the TypedStruct
// `outrigger.dev/outrigger.telemetry.v1.Telemetry`.
import type { Writable } from 'node:stream';
import { openAccessLog, type AccessLogSink } from '../../../telemetry/access-log/sink.ts';
import type { TelemetryFilterConfig, TelemetryWorkloadConfig, TracingProviderConfig } from '../../../telemetry/filter-config.ts';
import { IstioMetrics } from '../../../telemetry/istio-metrics.ts';
import type { MetricsRegistry } from '../../../telemetry/metrics/registry.ts';
import { type ExportTimers, type PostJson, SpanExporter } from '../../../telemetry/tracing/exporter.ts';
import { providerSender } from '../../../telemetry/tracing/provider-sender.ts';
import type { Random } from '../../../telemetry/tracing/ids.ts';
import { type WorkloadLabels, workloadLabels } from '../../../telemetry/workload-labels.ts';
import type { TypedAny } from '../../../xds/any.ts';
import { OutriggerExtension } from '../../../xds/type-urls.ts';
import { FilterConfigError, type HttpFilter, type HttpFilterFactory } from '../../http/filter.ts';
import { AccessLogger } from './access-log.ts';
import { parseTelemetryConfig } from './config.ts';
import { type ClusterServices, EdgeIndex } from './edges.ts';
import { TelemetryFilter } from './filter.ts';
import { TcpTelemetryFilter } from './tcp-filter.ts';
import type { NetworkStatsFilter } from '../network-stats.ts';
import { MetricOverrides } from './metric-overrides.ts';
import { Tracer } from './tracer.ts';

export { parseTelemetryConfig } from './config.ts';
export { flagsText, PEER_RESPONSE_HEADER, TelemetryFilter } from './filter.ts';

export const TELEMETRY_FILTER_NAME = 'istio.stats';

export interface TelemetryDeps {
  /** The proxy's registry; the Istio families are registered in it once. */
  registry: MetricsRegistry;
  now?: () => number;
  random?: Random;
  /**
   * The proxy's pod environment (process.env by default): `environment` custom tags, a tracing provider's
   * `env_name` headers, and the pod IP (INSTANCE_IP) of Zipkin spans.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** The proxy's xDS node id (`router~IP~POD.NS~NS.svc.cluster.local`): every span's `node_id` tag, as Envoy's. */
  nodeId?: string;
  /** Opens an access-log destination (shared by every listener writing to the same path). */
  openAccessLog?: (path: string) => AccessLogSink;
  /** The proxy's own output, standing for `/dev/stdout` and `/dev/stderr` where proxies share a process. */
  output?: Writable;
  /**
   * An OTLP/HTTP JSON URL that takes every provider's spans instead (local mode: the built-in collector;
   * undefined: none exported). Without it, spans go to the provider as its kind and protocol say.
   */
  traceEndpoint?: (provider: TracingProviderConfig) => string | undefined;
  exportTimers?: ExportTimers;
  /** How a span batch is posted to `traceEndpoint` (the exporter's postJson by default). */
  post?: PostJson;
  /** This proxy's workload, from its node, for configs that leave it out (as translation does). */
  localWorkload?: TelemetryWorkloadConfig;
  /** A cluster's `istio.services` metadata: inbound requests' destination service, where the config names none. */
  clusterServices?: ClusterServices;
  /** A gateway's filters, like inbound ones, never name a service after the Host header (pilot's `disableHostHeaderFallback`). */
  gateway?: boolean;
}

export interface TelemetryFilterFactory extends HttpFilterFactory {
  /** Flushes spans and closes owned access-log files (proxy shutdown). */
  close(): Promise<void>;
  createNetwork(config: TypedAny): NetworkStatsFilter | undefined;
}

export function createTelemetryFilterFactory(deps: TelemetryDeps): TelemetryFilterFactory {
  let metrics: IstioMetrics | undefined;
  const sinks = new Map<string, AccessLogSink>();
  /**
   * One exporter per provider name and service: a provider whose settings change (its collector, timeout or
   * headers) gets a new one and the one before is closed, its spans sent first, so edits do not pile up
   * exporters, their timers and their collector sessions.
   */
  const exporters = new Map<string, { settings: string; exporter: SpanExporter }>();
  const peerCache = new Map<string, WorkloadLabels>();
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;

  const exporterFor = (config: TelemetryFilterConfig, self: WorkloadLabels): SpanExporter | undefined => {
    const p = config.tracing?.provider;
    if (!p) return undefined;
    const serviceName = `${self.canonicalService}.${self.namespace}`;
    const timers = deps.exportTimers ? { timers: deps.exportTimers } : {};
    let settings: string;
    let make: () => SpanExporter;
    if (deps.traceEndpoint) {
      const url = deps.traceEndpoint(p);
      if (!url) return undefined;
      settings = url;
      make = () => new SpanExporter({ url, serviceName, ...timers, ...(deps.post ? { post: deps.post } : {}) });
    } else {
      // The provider config whole: a change of protocol, path, timeout or headers is a new exporter.
      settings = JSON.stringify(p);
      make = () => new SpanExporter({ sender: providerSender(p, { env: deps.env ?? process.env }), serviceName, ...timers });
    }
    const slot = `${p.name} ${serviceName}`;
    const held = exporters.get(slot);
    if (held?.settings === settings) return held.exporter;
    if (held) void held.exporter.close();
    const exporter = make();
    exporters.set(slot, { settings, exporter });
    return exporter;
  };

  /** The parts one filter config compiles to (`tracing` false for the network filter, which has no spans). */
  const compile = (typed: TypedAny, tracing: boolean) => {
    const config = parseTelemetryConfig(typed, deps.localWorkload);
    const self = workloadLabels(config.workload);
    metrics ??= new IstioMetrics(deps.registry);
    const edges = config.metrics ? new EdgeIndex(metrics, config.reporter, self, config.services ?? [], deps.clusterServices, hostHeaderFallback(config, deps.gateway === true)) : undefined;
    let tracer: Tracer | undefined;
    const accessLogs: AccessLogger[] = [];
    let overrides: { rules: MetricOverrides; metrics: IstioMetrics } | undefined;
    try {
      if (edges && config.metric_overrides?.length) overrides = { rules: new MetricOverrides(config.metric_overrides), metrics };
      if (tracing && config.tracing) tracer = new Tracer(config.tracing, config.reporter === 'source' ? 'CLIENT' : 'SERVER', self, random, deps.env ?? process.env, exporterFor(config, self), deps.nodeId);
      // One logger per provider's log, each with its own filter and format; logs to one path share its sink.
      for (const log of config.access_log === undefined ? [] : [config.access_log].flat()) {
        let sink = sinks.get(log.path);
        if (!sink) {
          sink = deps.openAccessLog ? deps.openAccessLog(log.path) : openAccessLog(log.path, deps.output ? { output: deps.output } : {});
          sinks.set(log.path, sink);
        }
        accessLogs.push(new AccessLogger(log, sink));
      }
    } catch (err) {
      if (err instanceof FilterConfigError) throw err;
      throw new FilterConfigError(`istio.stats: ${(err as Error).message}`, { cause: err });
    }
    return { config, edges, tracer, accessLogs, overrides };
  };

  return {
    name: TELEMETRY_FILTER_NAME,
    typeUrls: [OutriggerExtension.Telemetry],
    create(typed: TypedAny): HttpFilter {
      return new TelemetryFilter({ ...compile(typed, true), now, peerCache });
    },
    /** On a TCP chain; nothing to do (undefined) when the config asks for neither metrics nor logs. */
    createNetwork(typed: TypedAny): NetworkStatsFilter | undefined {
      const { config, edges, accessLogs, overrides } = compile(typed, false);
      if (!edges && accessLogs.length === 0) return undefined;
      return new TcpTelemetryFilter({ config, edges, accessLogs, overrides, now, peerCache });
    },
    async close(): Promise<void> {
      // The log files close while the spans are being sent, not after them.
      await Promise.all([...[...sinks.values()].map((s) => s.close()), ...[...exporters.values()].map((e) => e.exporter.close())]);
    },
  };
}

/**
 * Pilot sets the stats filter's `disable_host_header_fallback` on inbound and gateway listeners only; a
 * config may say so itself, else the reporter and the proxy's role decide, as the listener class does.
 */
function hostHeaderFallback(config: TelemetryFilterConfig, gateway: boolean): boolean {
  if (config.disable_host_header_fallback !== undefined) return !config.disable_host_header_fallback;
  return config.reporter === 'source' && !gateway;
}
