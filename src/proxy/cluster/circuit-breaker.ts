// Envoy's circuit breakers (ResourceManagerImpl) for one cluster: connections, pending requests,
// requests and retries per routing priority, with the overflow counters the seed watches
// (`envoy_cluster_upstream_rq_pending_overflow`...). Istio's connectionPool maps onto the thresholds:
// tcp.maxConnections → max_connections, http.http1MaxPendingRequests → max_pending_requests,
// http.http2MaxRequests → max_requests, http.maxRetries → max_retries (unset or 0: 2^32 − 1).
import { LbError } from './lb/load-balancer.ts';
import { sharedValue } from './shared-value.ts';

interface UInt32 {
  value?: number;
}

/** One `circuit_breakers.thresholds[]` entry in Envoy's canonical JSON. */
export interface ThresholdsJson {
  priority?: string;
  max_connections?: UInt32;
  max_pending_requests?: UInt32;
  max_requests?: UInt32;
  max_retries?: UInt32;
  track_remaining?: boolean;
}

export type RoutingPriority = 'DEFAULT' | 'HIGH';

/** Envoy's defaults when a threshold (or the whole entry) is absent. */
export const defaultThresholds = { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 } as const;

/** One limited resource: a counter that refuses to pass its maximum. */
export class ResourceLimit {
  readonly max: number;
  #current = 0;

  constructor(max: number) {
    this.max = max;
  }

  get current(): number {
    return this.#current;
  }

  get remaining(): number {
    return Math.max(0, this.max - this.#current);
  }

  /** Envoy's `*_open` gauge: the breaker is open while the resource is at its limit. */
  get open(): boolean {
    return this.#current >= this.max;
  }

  tryAcquire(): boolean {
    if (this.#current >= this.max) return false;
    this.#current++;
    return true;
  }

  /** Takes one whatever the limit (Envoy's `inc()` without `canCreate()`): the per-host exemption of the connection pools. */
  acquirePastLimit(): void {
    this.#current++;
  }

  release(): void {
    if (this.#current > 0) this.#current--;
  }
}

/** Overflow counters in Envoy's names (Prometheus: `envoy_cluster_<name>`). */
export interface OverflowStats {
  upstream_cx_overflow: number;
  /** Requests refused for max_pending_requests, and (as Envoy counts them) for max_requests. */
  upstream_rq_pending_overflow: number;
  upstream_rq_retry_overflow: number;
}

/** One priority's limits, read from its thresholds entry (or Envoy's defaults). */
export interface Thresholds {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
  readonly trackRemaining: boolean;
}

/**
 * Nearly every cluster has the same limits (Istio writes 2^32 − 1 for each unset one, or Envoy's
 * defaults apply): one frozen copy each, bounded so odd configs cannot grow it without limit.
 */
const sharedThresholds = new Map<string, Thresholds>();

function thresholdsOf(t: ThresholdsJson | undefined): Thresholds {
  const maxConnections = t?.max_connections?.value ?? defaultThresholds.maxConnections;
  const maxPendingRequests = t?.max_pending_requests?.value ?? defaultThresholds.maxPendingRequests;
  const maxRequests = t?.max_requests?.value ?? defaultThresholds.maxRequests;
  const maxRetries = t?.max_retries?.value ?? defaultThresholds.maxRetries;
  const trackRemaining = t?.track_remaining === true;
  const key = `${maxConnections}/${maxPendingRequests}/${maxRequests}/${maxRetries}/${trackRemaining}`;
  return sharedValue(sharedThresholds, key, () => Object.freeze({ maxConnections, maxPendingRequests, maxRequests, maxRetries, trackRemaining }));
}

/** The resources of one routing priority. */
export class ResourceManager {
  readonly connections: ResourceLimit;
  readonly pendingRequests: ResourceLimit;
  readonly requests: ResourceLimit;
  readonly retries: ResourceLimit;
  readonly trackRemaining: boolean;
  readonly #stats: OverflowStats;

  constructor(t: Thresholds, stats: OverflowStats) {
    this.connections = new ResourceLimit(t.maxConnections);
    this.pendingRequests = new ResourceLimit(t.maxPendingRequests);
    this.requests = new ResourceLimit(t.maxRequests);
    this.retries = new ResourceLimit(t.maxRetries);
    this.trackRemaining = t.trackRemaining;
    this.#stats = stats;
  }

  /** A new upstream connection. Refused: the request waits for a busy one (no error by itself). */
  tryAcquireConnection(): boolean {
    return this.#count(this.connections.tryAcquire(), 'upstream_cx_overflow');
  }

  /** A request queued for a connection. Refused: 503 with flag UO. */
  tryAcquirePending(): boolean {
    return this.#count(this.pendingRequests.tryAcquire(), 'upstream_rq_pending_overflow');
  }

  /** A request in flight. Refused: 503 with flag UO. */
  tryAcquireRequest(): boolean {
    return this.#count(this.requests.tryAcquire(), 'upstream_rq_pending_overflow');
  }

  /** A retry. Refused: the request is not retried and its last response stands. */
  tryAcquireRetry(): boolean {
    return this.#count(this.retries.tryAcquire(), 'upstream_rq_retry_overflow');
  }

  releaseConnection(): void {
    this.connections.release();
  }

  releasePending(): void {
    this.pendingRequests.release();
  }

  releaseRequest(): void {
    this.requests.release();
  }

  releaseRetry(): void {
    this.retries.release();
  }

  #count(ok: boolean, stat: keyof OverflowStats): boolean {
    if (!ok) this.#stats[stat]++;
    return ok;
  }
}

/**
 * A cluster's circuit breakers: one resource manager per routing priority, shared overflow counters.
 * The thresholds are checked at once (a bad entry NACKs the cluster); a priority's resource manager is
 * made when it is first asked for, so a cluster that never takes traffic holds none.
 */
export class CircuitBreakers {
  readonly stats: OverflowStats = { upstream_cx_overflow: 0, upstream_rq_pending_overflow: 0, upstream_rq_retry_overflow: 0 };
  readonly #defaultLimits: Thresholds;
  readonly #highLimits: Thresholds;
  #default: ResourceManager | undefined;
  #high: ResourceManager | undefined;

  constructor(json: { thresholds?: ThresholdsJson[] } | undefined, where = 'circuit_breakers') {
    const seen = new Map<RoutingPriority, ThresholdsJson>();
    (json?.thresholds ?? []).forEach((t, i) => {
      const p = t.priority ?? 'DEFAULT';
      if (p !== 'DEFAULT' && p !== 'HIGH') throw new LbError('CIRCUIT_BREAKER_CONFIG', `${where}.thresholds[${i}].priority: unknown ${p}`);
      if (seen.has(p)) throw new LbError('CIRCUIT_BREAKER_CONFIG', `${where}.thresholds[${i}]: a second entry for priority ${p}`);
      seen.set(p, t);
    });
    // The limits, not the JSON: the cluster's breakers outlive the update that brought it.
    this.#defaultLimits = thresholdsOf(seen.get('DEFAULT'));
    this.#highLimits = thresholdsOf(seen.get('HIGH'));
  }

  forPriority(priority: RoutingPriority = 'DEFAULT'): ResourceManager {
    if (priority === 'HIGH') {
      this.#high ??= new ResourceManager(this.#highLimits, this.stats);
      return this.#high;
    }
    this.#default ??= new ResourceManager(this.#defaultLimits, this.stats);
    return this.#default;
  }
}
