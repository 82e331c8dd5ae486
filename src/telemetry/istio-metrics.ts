// Istio's standard metrics (istio_requests_total, istio_request_duration_milliseconds, request and
// response sizes, istio_tcp_*) with Istio's exact label set, bound once per label tuple so that
// recording a request is a few map lookups and field updates.
import type { Counter, Family, Histogram, MetricsRegistry } from './metrics/registry.ts';
import type { WorkloadLabels } from './workload-labels.ts';

/** Istio's duration buckets, in milliseconds. */
/** A `grpc-status` Envoy reads as InvalidCode (-1): Istio's label is `-1` (`StrCat` of the code). */
export const GRPC_INVALID_STATUS = -2;

export const DURATION_BUCKETS_MS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];
/** Istio's size buckets: powers of ten from 1 byte to 1 GB. */
export const SIZE_BUCKETS_BYTES: readonly number[] = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

export type Reporter = 'source' | 'destination';
export type RequestProtocol = 'http' | 'grpc' | 'tcp';
export type SecurityPolicy = 'mutual_tls' | 'none' | 'unknown';

/** The destination service of a request: `destination_service{,_name,_namespace}`. */
export interface ServiceLabels {
  readonly host: string;
  readonly name: string;
  /** `''` where nothing names it (no `istio.services` namespace): the source reports its peer's namespace then. */
  readonly namespace: string;
}

export const unknownService: ServiceLabels = Object.freeze({ host: 'unknown', name: 'unknown', namespace: 'unknown' });

export interface RequestSeries {
  readonly requests: Counter;
  readonly duration: Histogram;
  readonly requestBytes: Histogram;
  readonly responseBytes: Histogram;
}

export interface TcpSeries {
  readonly sent: Counter;
  readonly received: Counter;
  readonly opened: Counter;
  readonly closed: Counter;
}

const protocolIndex: Readonly<Record<RequestProtocol, number>> = { http: 0, grpc: 1, tcp: 2 };

/** The eight families, registered once per registry. */
export class IstioMetrics {
  readonly requests: Family<Counter>;
  readonly duration: Family<Histogram>;
  readonly requestBytes: Family<Histogram>;
  readonly responseBytes: Family<Histogram>;
  readonly tcpSent: Family<Counter>;
  readonly tcpReceived: Family<Counter>;
  readonly tcpOpened: Family<Counter>;
  readonly tcpClosed: Family<Counter>;
  #edges = new Map<string, MetricEdge>();

  constructor(registry: MetricsRegistry) {
    this.requests = registry.counter('istio_requests_total', 'Requests handled by the proxy, by Istio labels.');
    this.duration = registry.histogram('istio_request_duration_milliseconds', 'Request duration in milliseconds.', DURATION_BUCKETS_MS);
    this.requestBytes = registry.histogram('istio_request_bytes', 'Request body sizes in bytes.', SIZE_BUCKETS_BYTES);
    this.responseBytes = registry.histogram('istio_response_bytes', 'Response body sizes in bytes.', SIZE_BUCKETS_BYTES);
    this.tcpSent = registry.counter('istio_tcp_sent_bytes_total', 'Bytes sent to the downstream on TCP connections.');
    this.tcpReceived = registry.counter('istio_tcp_received_bytes_total', 'Bytes received from the downstream on TCP connections.');
    this.tcpOpened = registry.counter('istio_tcp_connections_opened_total', 'TCP connections opened.');
    this.tcpClosed = registry.counter('istio_tcp_connections_closed_total', 'TCP connections closed.');
  }

  /**
   * The series group for one (reporter, source, destination, service, security policy) tuple. Cached:
   * call on a cache miss of the caller's own fast index, then keep the edge.
   */
  edge(reporter: Reporter, source: WorkloadLabels, destination: WorkloadLabels, service: ServiceLabels, security: SecurityPolicy): MetricEdge {
    const key = [reporter, security, service.host, service.name, service.namespace, ...Object.values(source), ...Object.values(destination)].join('\u0000');
    let edge = this.#edges.get(key);
    if (!edge) {
      edge = new MetricEdge(this, edgeLabels(reporter, source, destination, service), security);
      this.#edges.set(key, edge);
    }
    return edge;
  }
}

function edgeLabels(reporter: Reporter, s: WorkloadLabels, d: WorkloadLabels, svc: ServiceLabels): Record<string, string> {
  return {
    reporter,
    source_workload: s.workload,
    source_workload_namespace: s.namespace,
    source_principal: s.principal,
    source_app: s.app,
    source_version: s.version,
    source_cluster: s.cluster,
    source_canonical_service: s.canonicalService,
    source_canonical_revision: s.canonicalRevision,
    destination_workload: d.workload,
    destination_workload_namespace: d.namespace,
    destination_principal: d.principal,
    destination_app: d.app,
    destination_version: d.version,
    destination_service: svc.host,
    destination_service_name: svc.name,
    // Istio's stats filter (istio_stats.cc, populatePeerInfo): the destination reports its own namespace; the
    // source the routed cluster's `istio.services[0].namespace` (Istio 1.23+, istio/proxy#5617), else the
    // namespace of the workload that answered (its peer's, else unknown). So an overflow (UO) or a cluster
    // without healthy host (UH) still names the service's namespace.
    destination_service_namespace: reporter === 'source' ? svc.namespace || d.namespace : d.namespace,
    destination_cluster: d.cluster,
    destination_canonical_service: d.canonicalService,
    destination_canonical_revision: d.canonicalRevision,
  };
}

/** The series of one edge, per request outcome (protocol, code, gRPC status, flags). */
export class MetricEdge {
  #metrics: IstioMetrics;
  #base: Readonly<Record<string, string>>;
  #security: SecurityPolicy;
  // Outcomes without response flags are keyed by a number (no string building on the hot path).
  #plain = new Map<number, RequestSeries>();
  #flagged = new Map<string, Map<number, RequestSeries>>();
  #tcp = new Map<string, TcpSeries>();
  #tcpLabels = new Map<string, Readonly<Record<string, string>>>();

  constructor(metrics: IstioMetrics, base: Record<string, string>, security: SecurityPolicy) {
    this.#metrics = metrics;
    this.#base = Object.freeze(base);
    this.#security = security;
  }

  /**
   * `flags` is Envoy's `%RESPONSE_FLAGS%` text, `-` when none. `grpcStatus` -1 when not gRPC or none,
   * GRPC_INVALID_STATUS for a `grpc-status` Envoy reads as InvalidCode (labelled `-1`, as Istio does).
   */
  series(protocol: RequestProtocol, code: number, grpcStatus: number, flags: string): RequestSeries {
    const key = code + 1000 * (grpcStatus + 1) + 100_000 * protocolIndex[protocol];
    let byKey = this.#plain;
    if (flags !== '-') {
      let m = this.#flagged.get(flags);
      if (!m) {
        m = new Map();
        this.#flagged.set(flags, m);
      }
      byKey = m;
    }
    let s = byKey.get(key);
    if (!s) {
      s = this.#bind(protocol, code, grpcStatus, flags);
      byKey.set(key, s);
    }
    return s;
  }

  /**
   * The labels of one outcome's series, without binding any (metric overrides bind their own); the same
   * object for the same outcome, so callers may key caches by it.
   */
  outcomeLabels(protocol: RequestProtocol, code: number, grpcStatus: number, flags: string): Readonly<Record<string, string>> {
    const key = `${protocol} ${code} ${grpcStatus} ${flags}`;
    let l = this.#outcomeLabels.get(key);
    if (!l) {
      if (this.#outcomeLabels.size >= 10_000) this.#outcomeLabels.clear();
      l = Object.freeze(this.#labels(protocol, code, grpcStatus, flags));
      this.#outcomeLabels.set(key, l);
    }
    return l;
  }
  #outcomeLabels = new Map<string, Readonly<Record<string, string>>>();

  /** Records one finished request; its duration in whole milliseconds, truncated as Istio's stats filter records it (uint64). */
  record(protocol: RequestProtocol, code: number, grpcStatus: number, flags: string, durationMs: number, requestBytes: number, responseBytes: number): void {
    const s = this.series(protocol, code, grpcStatus, flags);
    s.requests.value++;
    s.duration.observe(Math.trunc(durationMs));
    s.requestBytes.observe(requestBytes);
    s.responseBytes.observe(responseBytes);
  }

  /**
   * The TCP series of this edge for one connection outcome (`flags`: `-`, `UF`, ...). Istio's TCP metrics
   * carry `request_protocol="tcp"` and no `response_code` or `grpc_response_status` (istio_stats.cc).
   */
  tcp(flags: string): TcpSeries {
    let s = this.#tcp.get(flags);
    if (!s) {
      const labels = this.tcpLabels(flags);
      const m = this.#metrics;
      s = { sent: m.tcpSent.bind(labels), received: m.tcpReceived.bind(labels), opened: m.tcpOpened.bind(labels), closed: m.tcpClosed.bind(labels) };
      this.#tcp.set(flags, s);
    }
    return s;
  }

  /** The labels of this edge's TCP series for `flags`; the same object each time (metric overrides key by it). */
  tcpLabels(flags: string): Readonly<Record<string, string>> {
    let l = this.#tcpLabels.get(flags);
    if (!l) {
      l = Object.freeze({ ...this.#base, request_protocol: 'tcp', response_flags: flags, connection_security_policy: this.#security });
      this.#tcpLabels.set(flags, l);
    }
    return l;
  }

  #labels(protocol: RequestProtocol, code: number, grpcStatus: number, flags: string): Record<string, string> {
    return {
      ...this.#base,
      request_protocol: protocol,
      response_code: String(code),
      grpc_response_status: grpcStatus === GRPC_INVALID_STATUS ? '-1' : grpcStatus < 0 ? '' : String(grpcStatus),
      response_flags: flags,
      connection_security_policy: this.#security,
    };
  }

  #bind(protocol: RequestProtocol, code: number, grpcStatus: number, flags: string): RequestSeries {
    const labels = this.#labels(protocol, code, grpcStatus, flags);
    const m = this.#metrics;
    return { requests: m.requests.bind(labels), duration: m.duration.bind(labels), requestBytes: m.requestBytes.bind(labels), responseBytes: m.responseBytes.bind(labels) };
  }
}
