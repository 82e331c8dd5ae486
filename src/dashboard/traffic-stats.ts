// Rates and latency of a set of edge increases over one interval: requests/s, 5xx ratio, mTLS share and
// p50/p95/p99 from the summed duration buckets.
import { histogramQuantile } from './histogram-quantile.ts';
import type { EdgeDelta } from './traffic-history.ts';

export interface TrafficStats {
  /** Requests per second over the interval. */
  rps: number;
  requests: number;
  errors: number;
  /** 5xx / requests; null without requests. */
  errorRatio: number | null;
  /**
   * Kiali's mTLS share: of the requests a destination sidecar reported, those over mutual TLS (for TCP
   * alone, of the bytes it sent). Null where none was reported (no traffic, or none reached a sidecar:
   * UO, NR, fault aborts, no sidecar there).
   */
  mtlsRatio: number | null;
  /** Milliseconds; null without requests. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  /** New TCP connections per second (TCP services). */
  tcpConnectionsPerSecond: number;
  tcpBytesPerSecond: number;
}

const round = (v: number, digits: number): number => Math.round(v * 10 ** digits) / 10 ** digits;

export function trafficStats(edges: readonly EdgeDelta[], seconds: number): TrafficStats {
  let requests = 0;
  let errors = 0;
  let mtls = 0;
  let secured = 0;
  let tcpMtls = 0;
  let tcpSecured = 0;
  let tcpOpened = 0;
  let tcpBytes = 0;
  const buckets = new Map<number, number>();
  for (const e of edges) {
    requests += e.requests;
    errors += e.errors;
    mtls += e.mtls;
    secured += e.secured;
    tcpMtls += e.tcpMtls;
    tcpSecured += e.tcpSecured;
    tcpOpened += e.tcpOpened;
    tcpBytes += e.tcpBytes;
    for (const [le, c] of e.buckets) buckets.set(le, (buckets.get(le) ?? 0) + c);
  }
  const q = (p: number): number | null => {
    const v = histogramQuantile(p, buckets);
    return v === undefined ? null : round(v, 2);
  };
  const s = seconds > 0 ? seconds : 1;
  return {
    rps: round(requests / s, 3),
    requests,
    errors,
    errorRatio: requests > 0 ? round(errors / requests, 4) : null,
    mtlsRatio: secured > 0 ? round(mtls / secured, 4) : tcpSecured > 0 ? round(tcpMtls / tcpSecured, 4) : null,
    p50: q(0.5),
    p95: q(0.95),
    p99: q(0.99),
    tcpConnectionsPerSecond: round(tcpOpened / s, 3),
    tcpBytesPerSecond: round(tcpBytes / s, 1),
  };
}

export type Health = 'idle' | 'healthy' | 'degraded' | 'failing';

/** Failing at the seed's alert threshold (5xx above 5%), degraded from 1%. */
export function healthOf(s: TrafficStats): Health {
  if (s.errorRatio === null) return s.tcpConnectionsPerSecond > 0 || s.tcpBytesPerSecond > 0 ? 'healthy' : 'idle';
  if (s.errorRatio >= 0.05) return 'failing';
  if (s.errorRatio >= 0.01) return 'degraded';
  return 'healthy';
}
