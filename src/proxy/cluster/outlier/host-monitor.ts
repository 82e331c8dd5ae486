// Per-host outlier state and how one outcome moves it (Envoy's DetectorHostMonitorImpl): consecutive
// counters, the local-origin / external split, and the per-interval success-rate tallies.
import type { EjectionType, OutlierConfig } from './outlier-config.ts';

/**
 * An HTTP status from the upstream (external origin), or a local-origin event: the connection failed
 * or timed out, the stream was reset, or the connection succeeded (`connect-success` for HTTP, where
 * the response still follows; `connect-success-final` for TCP, where nothing else will).
 */
export type OutlierOutcome = number | 'connect-failed' | 'timeout' | 'reset' | 'connect-success' | 'connect-success-final';

export interface HostMonitor {
  consecutive5xx: number;
  consecutiveGateway: number;
  consecutiveLocalOrigin: number;
  /** Monotonic ms of the current ejection, or null when in rotation. */
  ejectedAt: number | null;
  ejections: number;
  backoff: number;
  jitterMs: number;
  intervalTotal: number;
  intervalSuccess: number;
}

export function newMonitor(): HostMonitor {
  return { consecutive5xx: 0, consecutiveGateway: 0, consecutiveLocalOrigin: 0, ejectedAt: null, ejections: 0, backoff: 0, jitterMs: 0, intervalTotal: 0, intervalSuccess: 0 };
}

/** Without the split, local events count as the HTTP status Envoy maps them to (503 or 504). */
const asHttp: Record<Exclude<OutlierOutcome, number>, number | null> = {
  'connect-failed': 503,
  reset: 503,
  timeout: 504,
  'connect-success': null,
  'connect-success-final': 200,
};

const none: readonly EjectionType[] = [];
const localOrigin: readonly EjectionType[] = ['consecutive_local_origin_failure'];
const gateway: readonly EjectionType[] = ['consecutive_gateway_failure'];
const fiveXx: readonly EjectionType[] = ['consecutive_5xx'];
// Envoy checks the gateway counter first, then 5xx; both may complete on the same response.
const both: readonly EjectionType[] = ['consecutive_gateway_failure', 'consecutive_5xx'];

/** Records one outcome; returns the detections it completes, in Envoy's order (counters compare `==`). */
export function recordOutcome(m: HostMonitor, outcome: OutlierOutcome, c: OutlierConfig): readonly EjectionType[] {
  if (typeof outcome !== 'number') {
    if (c.splitExternalLocalOriginErrors) {
      if (outcome === 'connect-success' || outcome === 'connect-success-final') {
        m.consecutiveLocalOrigin = 0;
        return none;
      }
      m.consecutiveLocalOrigin++;
      return m.consecutiveLocalOrigin === c.consecutiveLocalOriginFailure ? localOrigin : none;
    }
    const code = asHttp[outcome];
    if (code === null) return none;
    outcome = code;
  }
  m.intervalTotal++;
  if (outcome < 500 || outcome > 599) {
    m.intervalSuccess++;
    m.consecutive5xx = 0;
    m.consecutiveGateway = 0;
    return none;
  }
  let gatewayFired = false;
  if (outcome === 502 || outcome === 503 || outcome === 504) {
    m.consecutiveGateway++;
    gatewayFired = m.consecutiveGateway === c.consecutiveGatewayFailure;
  } else m.consecutiveGateway = 0;
  m.consecutive5xx++;
  const fiveFired = m.consecutive5xx === c.consecutive5xx;
  return gatewayFired ? (fiveFired ? both : gateway) : fiveFired ? fiveXx : none;
}
