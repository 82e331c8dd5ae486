// The `istio.stats` filter config: the JSON inside the TypedStruct
// `outrigger.dev/outrigger.telemetry.v1.Telemetry` that translation emits and the proxy compiles.
// Field names are snake_case like the rest of the xDS config.

export interface TelemetryWorkloadConfig {
  workload: string;
  namespace: string;
  labels: Record<string, string>;
  /** This workload's SPIFFE ID. */
  principal?: string;
  cluster?: string;
}

/** A service the workload serves (destination reporter): the first delivering to the request's port, else the first, as Istio takes its cluster's first service. */
export interface TelemetryServiceConfig {
  host: string;
  name: string;
  namespace: string;
  /** Container (target) ports this service delivers to. */
  ports?: number[];
}

export type CustomTagConfig =
  | { literal: { value: string } }
  | { environment: { name: string; default_value?: string } }
  | { header: { name: string; default_value?: string } };

/** A header of every export request (gRPC metadata for OTLP/gRPC): a value, or the proxy's environment variable's. */
export type TracingHeaderConfig = { name: string; value: string } | { name: string; env_name: string };

export interface TracingProviderConfig {
  name: string;
  /** `opentelemetry` exports OTLP (over `protocol`); `zipkin` posts Zipkin v2 JSON. */
  kind: 'opentelemetry' | 'zipkin';
  /** OTLP's transport: `grpc` (an Istio provider without `http:`, and the default) or `http` (protobuf). */
  protocol?: 'grpc' | 'http';
  service: string;
  port: number;
  /** The HTTP path: OTLP/HTTP's (`/v1/traces` by default), or Zipkin's (`/api/v2/spans` by default). */
  path?: string;
  /** The export request's timeout; by default 10 s for OTLP/gRPC, 3 s for OTLP/HTTP, 5 s for Zipkin. */
  timeout_ms?: number;
  headers?: TracingHeaderConfig[];
}

export interface SamplingRule {
  /** RE2 regex searched in the request URL `http://host/path?query`. */
  url: string;
  percentage: number;
}

export interface TracingConfig {
  /** 0..100: the share of new traces (no sampling decision from the caller) that are sampled. */
  sampling: number;
  /** Per-path sampling rules, first match wins (Outrigger; see docs/observability.md). */
  rules?: SamplingRule[];
  custom_tags?: Record<string, CustomTagConfig>;
  provider?: TracingProviderConfig;
  max_path_tag_length?: number;
}

export interface AccessLogConfig {
  /** `/dev/stdout`, `/dev/stderr` or a file path. */
  path: string;
  encoding: 'TEXT' | 'JSON';
  /** TEXT: an Envoy format string; Istio's default when absent. */
  format?: string;
  /** JSON: key → command operator; Istio's default JSON layout when absent. */
  json_format?: Record<string, string>;
  /** Telemetry `accessLogging[].filter.expression` (CEL): only streams it holds true for are logged. */
  filter?: string;
}

/**
 * One metric's overrides, as Istio's stats `PluginConfig.metrics[]` (what Telemetry `metrics[].overrides`
 * become for one mode): `name` is the metric without `istio_` (`requests_total`, `request_bytes`, ...).
 */
export interface MetricOverrideConfig {
  name: string;
  /** Not reported at all (`disabled: true`). */
  drop?: boolean;
  /** Standard labels left out (`tagOverrides` REMOVE). */
  tags_to_remove?: string[];
  /** Label → CEL expression (`tagOverrides` UPSERT): a standard label's value replaced, or a label added. */
  dimensions?: Record<string, string>;
}

export interface TelemetryFilterConfig {
  reporter: 'source' | 'destination';
  /**
   * The workload this proxy serves. Translation leaves it out, as Istio's stats filter reads it from the
   * node: the proxy fills it from its node metadata (WORKLOAD_NAME, NAMESPACE, LABELS, CLUSTER_ID) and
   * identity, so proxies of one scope can share one outbound listener. A config may still carry it.
   */
  workload: TelemetryWorkloadConfig;
  services?: TelemetryServiceConfig[];
  /**
   * Never name the destination service after the Host header (Istio's stats `disable_host_header_fallback`,
   * which pilot sets on inbound and gateway listeners): a request no cluster names a service for reports
   * `unknown` (outbound) or the workload's canonical service (inbound).
   */
  disable_host_header_fallback?: boolean;
  /** Istio standard metrics on or off (Telemetry `metrics[].overrides` disabling ALL_METRICS). */
  metrics: boolean;
  /** Per-metric overrides (Telemetry `metrics[].overrides` for this direction's mode), sorted by name. */
  metric_overrides?: MetricOverrideConfig[];
  tracing?: TracingConfig;
  /**
   * The access logs, one per provider in scope in provider name order, each with its own path, format and
   * filter (Envoy's repeated `access_log`, as pilot's buildAccessLogFromTelemetry fills it). A single log
   * may be the object itself, as translation writes it.
   */
  access_log?: AccessLogConfig | AccessLogConfig[];
}
