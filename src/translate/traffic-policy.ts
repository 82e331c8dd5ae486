// A DestinationRule traffic policy → the Envoy Cluster fields it sets: load balancer, circuit
// breakers (connectionPool), outlier detection, timeouts and HTTP protocol options.
import type { ConnectionPoolSettings, LoadBalancerSettings, OutlierDetection, PortTrafficPolicy } from '../config/types/networking.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { durationOf, istioDuration } from './xds-values.ts';

const unlimited = 4_294_967_295;

export interface PolicyInputs {
  policy: PortTrafficPolicy;
  /** Speak HTTP/2 upstream (http2/grpc ports, or h2UpgradePolicy UPGRADE). */
  http2: boolean;
  /** The port carries HTTP (protocol options only make sense there). */
  http: boolean;
  connectTimeoutMs: number;
}

/** Cluster fields for a traffic policy; mutually exclusive LB settings follow Istio's precedence. */
export function translateTrafficPolicy(inputs: PolicyInputs): Record<string, unknown> {
  const { policy } = inputs;
  const out: Record<string, unknown> = {};
  const tcp = policy.connectionPool?.tcp;
  out['connect_timeout'] = istioDuration(tcp?.connectTimeout) ?? durationOf(inputs.connectTimeoutMs);
  Object.assign(out, translateLoadBalancer(policy.loadBalancer));
  out['circuit_breakers'] = { thresholds: [translateThresholds(policy.connectionPool)] };
  if (policy.outlierDetection) Object.assign(out, translateOutlier(policy.outlierDetection));
  if (tcp?.tcpKeepalive) {
    // Istio's setKeepAliveSettings: probes only when > 0; time and interval whenever set (whole seconds).
    const k = tcp.tcpKeepalive;
    const ka: Record<string, unknown> = {};
    if (k.probes !== undefined && k.probes > 0) ka['keepalive_probes'] = { value: k.probes };
    const time = istioDuration(k.time);
    if (time) ka['keepalive_time'] = { value: time.seconds };
    const interval = istioDuration(k.interval);
    if (interval) ka['keepalive_interval'] = { value: interval.seconds };
    out['upstream_connection_options'] = { tcp_keepalive: ka };
  }
  const http2 = inputs.http2 || policy.connectionPool?.http?.h2UpgradePolicy === 'UPGRADE';
  const options = inputs.http ? translateProtocolOptions(policy.connectionPool, http2) : undefined;
  if (options) out['typed_extension_protocol_options'] = { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': options };
  return out;
}

function translateLoadBalancer(lb: LoadBalancerSettings | undefined): Record<string, unknown> {
  const ch = lb?.consistentHash;
  if (ch) {
    // Istio's ApplyRingHashLoadBalancer: a size of 0 is unset. `ringHash` then writes no ring config
    // (Envoy's 1024) and never reads the deprecated top-level minimumRingSize, which counts only alone.
    if (ch.maglev) return { lb_policy: 'MAGLEV', ...(ch.maglev.tableSize ? { maglev_lb_config: { table_size: { value: ch.maglev.tableSize } } } : {}) };
    if (ch.ringHash) return { lb_policy: 'RING_HASH', ...(ch.ringHash.minimumRingSize ? { ring_hash_lb_config: { minimum_ring_size: { value: ch.ringHash.minimumRingSize } } } : {}) };
    return { lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: { value: ch.minimumRingSize || 1024 } } };
  }
  const slowStart = slowStartConfig(lb);
  switch (lb?.simple) {
    case 'ROUND_ROBIN':
      // ROUND_ROBIN is Envoy's zero value: only its config is written.
      return slowStart ? { round_robin_lb_config: { slow_start_config: slowStart } } : {};
    case 'RANDOM':
      return { lb_policy: 'RANDOM' };
    case 'PASSTHROUGH':
      return { type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' };
    default:
      return { lb_policy: 'LEAST_REQUEST', ...(slowStart ? { least_request_lb_config: { slow_start_config: slowStart } } : {}) };
  }
}

/** `warmupDurationSecs`, or `warmup` (1.24) with its minimum percent and aggression → Envoy's SlowStartConfig. */
function slowStartConfig(lb: LoadBalancerSettings | undefined): Record<string, unknown> | undefined {
  const warmup = lb?.warmup;
  if (warmup) {
    const window = istioDuration(warmup.duration);
    if (!window) return undefined;
    const out: Record<string, unknown> = { slow_start_window: window };
    if (warmup.aggression !== undefined) out['aggression'] = { default_value: warmup.aggression, runtime_key: 'upstream.slow_start.aggression' };
    if (warmup.minimumPercent !== undefined) out['min_weight_percent'] = { value: warmup.minimumPercent };
    return out;
  }
  const window = istioDuration(lb?.warmupDurationSecs);
  return window ? { slow_start_window: window } : undefined;
}

/** Istio's applyConnectionPool copies a limit only when `> 0`: 0 (or unset) keeps its default, unlimited. */
const limit = (n: number | undefined): number => (n !== undefined && n > 0 ? n : unlimited);

/**
 * The circuit breakers of a cluster no DestinationRule shapes (inbound clusters, PassthroughCluster): Istio
 * applies an empty connection pool to them, so every limit is 2^32 − 1 rather than Envoy's 1024.
 */
export function defaultCircuitBreakers(): Record<string, unknown> {
  return { thresholds: [translateThresholds(undefined)] };
}

function translateThresholds(pool: ConnectionPoolSettings | undefined): Record<string, unknown> {
  return {
    max_connections: { value: limit(pool?.tcp?.maxConnections) },
    max_pending_requests: { value: limit(pool?.http?.http1MaxPendingRequests) },
    max_requests: { value: limit(pool?.http?.http2MaxRequests) },
    max_retries: { value: limit(pool?.http?.maxRetries) },
    track_remaining: true,
  };
}

/**
 * Istio's applyOutlierDetection: the error counts whenever set (enforced only when > 0), durations
 * whenever set, maxEjectionPercent only when > 0 (0 leaves Envoy's 10 %). The deprecated
 * `consecutiveErrors` is not read (Istio dropped it; validation reports it as deprecated).
 */
function translateOutlier(o: OutlierDetection): Record<string, unknown> {
  const od: Record<string, unknown> = { enforcing_success_rate: { value: 0 } };
  const five = o.consecutive5xxErrors;
  if (five !== undefined) {
    od['consecutive_5xx'] = { value: five };
    od['enforcing_consecutive_5xx'] = { value: five > 0 ? 100 : 0 };
  }
  const gateway = o.consecutiveGatewayErrors;
  if (gateway !== undefined) {
    od['consecutive_gateway_failure'] = { value: gateway };
    od['enforcing_consecutive_gateway_failure'] = { value: gateway > 0 ? 100 : 0 };
  }
  const interval = istioDuration(o.interval);
  if (interval) od['interval'] = interval;
  const base = istioDuration(o.baseEjectionTime);
  if (base) od['base_ejection_time'] = base;
  if (o.maxEjectionPercent !== undefined && o.maxEjectionPercent > 0) od['max_ejection_percent'] = { value: o.maxEjectionPercent };
  if (o.splitExternalLocalOriginErrors) {
    od['split_external_local_origin_errors'] = true;
    if (o.consecutiveLocalOriginFailures !== undefined && o.consecutiveLocalOriginFailures > 0) {
      od['consecutive_local_origin_failure'] = { value: o.consecutiveLocalOriginFailures };
      od['enforcing_consecutive_local_origin_failure'] = { value: 100 };
    }
    // Success-rate detection stays off for local-origin errors too.
    od['enforcing_local_origin_success_rate'] = { value: 0 };
  }
  // Istio maps minHealthPercent onto the panic threshold (0 = never panic).
  return { outlier_detection: od, common_lb_config: { healthy_panic_threshold: { value: o.minHealthPercent ?? 0 } } };
}

function translateProtocolOptions(pool: ConnectionPoolSettings | undefined, http2: boolean): Record<string, unknown> | undefined {
  const http = pool?.http;
  const common: Record<string, unknown> = {};
  const idle = istioDuration(http?.idleTimeout ?? pool?.tcp?.idleTimeout);
  if (idle) common['idle_timeout'] = idle;
  if (http?.maxRequestsPerConnection) common['max_requests_per_connection'] = { value: http.maxRequestsPerConnection };
  const maxDuration = istioDuration(pool?.tcp?.maxConnectionDuration);
  if (maxDuration) common['max_connection_duration'] = maxDuration;
  if (!http2 && !http?.useClientProtocol && Object.keys(common).length === 0) return undefined;
  const out: Record<string, unknown> = { '@type': TypeUrl.HttpProtocolOptions };
  if (Object.keys(common).length > 0) out['common_http_protocol_options'] = common;
  if (http?.useClientProtocol) out['use_downstream_protocol_config'] = { http_protocol_options: {}, http2_protocol_options: {} };
  else if (http2) {
    const h2: Record<string, unknown> = {};
    if (http?.maxConcurrentStreams) h2['max_concurrent_streams'] = { value: http.maxConcurrentStreams };
    out['explicit_http_config'] = { http2_protocol_options: h2 };
  } else out['explicit_http_config'] = { http_protocol_options: {} };
  return out;
}
