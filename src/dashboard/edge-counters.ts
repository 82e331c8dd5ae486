// Folds one proxy's Istio series into per-edge counters: every (reporter, source workload, destination
// service, destination workload) tuple summed over response codes, flags and protocols.
import type { Sample } from './exposition.ts';

export interface EdgeIdentity {
  reporter: string;
  sourceWorkload: string;
  sourceNamespace: string;
  sourceApp: string;
  sourceVersion: string;
  serviceName: string;
  serviceNamespace: string;
  serviceHost: string;
  destinationWorkload: string;
  destinationNamespace: string;
  destinationApp: string;
  destinationVersion: string;
}

export interface EdgeCounters {
  identity: EdgeIdentity;
  protocol: string;
  requests: number;
  /** Responses with a 5xx code (Istio's and the seed's error rate). */
  errors: number;
  /** Requests a destination sidecar reported over mutual TLS (`connection_security_policy="mutual_tls"`). */
  mtls: number;
  /**
   * Requests a destination sidecar reported with a security policy, `mutual_tls` or `none`: the mTLS
   * share's denominator, as Kiali's. A source reports `unknown`, so a request that never reached an
   * upstream (UO, NR, a fault abort) has no security policy and stays out of the share.
   */
  secured: number;
  durationSum: number;
  /** Cumulative bucket counts of istio_request_duration_milliseconds by upper bound (ms). */
  buckets: Map<number, number>;
  tcpOpened: number;
  tcpBytes: number;
  /** TCP bytes a destination sidecar sent over mutual TLS (`istio_tcp_sent_bytes_total`), as Kiali weighs TCP. */
  tcpMtls: number;
  /** TCP bytes a destination sidecar sent with a security policy (`mutual_tls` or `none`). */
  tcpSecured: number;
}

/** The families the dashboard reads; everything else in a scrape is skipped by the parser. */
export const scrapedFamilies: ReadonlySet<string> = new Set([
  'istio_requests_total',
  'istio_request_duration_milliseconds_bucket',
  'istio_request_duration_milliseconds_sum',
  'istio_tcp_connections_opened_total',
  'istio_tcp_sent_bytes_total',
  'istio_tcp_received_bytes_total',
]);

const get = (l: Record<string, string>, k: string): string => l[k] || 'unknown';

/**
 * Istio's source reporter names the namespace of the workload that answered, so a request none answered
 * (a fault abort, an overflow) says `unknown`: the service's own host (`NAME.NS.svc.…`) still tells it.
 */
function serviceNamespaceOf(l: Record<string, string>): string {
  const ns = get(l, 'destination_service_namespace');
  if (ns !== 'unknown') return ns;
  return /^[^.]+\.([^.]+)\.svc\./.exec(l['destination_service'] ?? '')?.[1] ?? ns;
}

function identityOf(l: Record<string, string>): EdgeIdentity {
  return {
    reporter: get(l, 'reporter'),
    sourceWorkload: get(l, 'source_workload'),
    sourceNamespace: get(l, 'source_workload_namespace'),
    sourceApp: get(l, 'source_app'),
    sourceVersion: get(l, 'source_version'),
    serviceName: get(l, 'destination_service_name'),
    serviceNamespace: serviceNamespaceOf(l),
    serviceHost: get(l, 'destination_service'),
    destinationWorkload: get(l, 'destination_workload'),
    destinationNamespace: get(l, 'destination_workload_namespace'),
    destinationApp: get(l, 'destination_app'),
    destinationVersion: get(l, 'destination_version'),
  };
}

export function edgeKey(id: EdgeIdentity): string {
  return [
    id.reporter,
    id.sourceNamespace,
    id.sourceWorkload,
    id.serviceNamespace,
    id.serviceName,
    id.destinationNamespace,
    id.destinationWorkload,
  ].join('|');
}

/** Sums the samples of one scrape into counters per edge. */
export function countEdges(samples: readonly Sample[]): Map<string, EdgeCounters> {
  const out = new Map<string, EdgeCounters>();
  const edge = (labels: Record<string, string>): EdgeCounters => {
    const identity = identityOf(labels);
    const key = edgeKey(identity);
    let e = out.get(key);
    if (!e) {
      e = { identity, protocol: labels['request_protocol'] || 'http', requests: 0, errors: 0, mtls: 0, secured: 0, durationSum: 0, buckets: new Map(), tcpOpened: 0, tcpBytes: 0, tcpMtls: 0, tcpSecured: 0 };
      out.set(key, e);
    }
    return e;
  };
  for (const s of samples) {
    if (!Number.isFinite(s.value)) continue;
    switch (s.name) {
      case 'istio_requests_total': {
        const e = edge(s.labels);
        e.requests += s.value;
        if ((s.labels['response_code'] ?? '').startsWith('5')) e.errors += s.value;
        const policy = s.labels['connection_security_policy'];
        if (policy === 'mutual_tls') e.mtls += s.value;
        if (policy === 'mutual_tls' || policy === 'none') e.secured += s.value;
        if (s.labels['request_protocol'] === 'grpc') e.protocol = 'grpc';
        break;
      }
      case 'istio_request_duration_milliseconds_bucket': {
        const le = Number(s.labels['le'] === '+Inf' ? Number.POSITIVE_INFINITY : s.labels['le']);
        if (Number.isNaN(le)) break;
        const b = edge(s.labels).buckets;
        b.set(le, (b.get(le) ?? 0) + s.value);
        break;
      }
      case 'istio_request_duration_milliseconds_sum':
        edge(s.labels).durationSum += s.value;
        break;
      case 'istio_tcp_connections_opened_total': {
        const e = edge(s.labels);
        e.protocol = 'tcp';
        e.tcpOpened += s.value;
        break;
      }
      case 'istio_tcp_sent_bytes_total': {
        const e = edge(s.labels);
        e.tcpBytes += s.value;
        const policy = s.labels['connection_security_policy'];
        if (policy === 'mutual_tls') e.tcpMtls += s.value;
        if (policy === 'mutual_tls' || policy === 'none') e.tcpSecured += s.value;
        break;
      }
      case 'istio_tcp_received_bytes_total':
        edge(s.labels).tcpBytes += s.value;
        break;
    }
  }
  return out;
}
