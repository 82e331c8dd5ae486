// Envoy's circuit breakers (ResourceManagerImpl) for one cluster: connections, pending requests,
// requests and retries per routing priority, with the overflow counters the seed watches
// (`envoy_cluster_upstream_rq_pending_overflow`...). Istio's connectionPool maps onto the thresholds:
// tcp.maxConnections → max_connections, http.http1MaxPendingRequests → max_pending_requests,
// http.http2MaxRequests → max_requests, http.maxRetries → max_retries (unset: 2^32 − 1).
import { LbError } from './lb/load-balancer.ts';

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

/** The resources of one routing priority. */
export class ResourceManager {
  readonly connections: ResourceLimit;
  readonly pendingRequests: ResourceLimit;
  readonly requests: ResourceLimit;
  readonly retries: ResourceLimit;
  readonly trackRemaining: boolean;
  readonly #stats: OverflowStats;

  constructor(t: ThresholdsJson | undefined, stats: OverflowStats) {
    this.connections = new ResourceLimit(t?.max_connections?.value ?? defaultThresholds.maxConnections);
    this.pendingRequests = new ResourceLimit(t?.max_pending_requests?.value ?? defaultThresholds.maxPendingRequests);
    this.requests = new ResourceLimit(t?.max_requests?.value ?? defaultThresholds.maxRequests);
    this.retries = new ResourceLimit(t?.max_retries?.value ?? defaultThresholds.maxRetries);
    this.trackRemaining = t?.track_remaining === true;
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

/** A cluster's circuit breakers: one resource manager per routing priority, shared overflow counters. */
export class CircuitBreakers {
  readonly stats: OverflowStats = { upstream_cx_overflow: 0, upstream_rq_pending_overflow: 0, upstream_rq_retry_overflow: 0 };
  readonly #byPriority: Readonly<Record<RoutingPriority, ResourceManager>>;

  constructor(json: { thresholds?: ThresholdsJson[] } | undefined, where = 'circuit_breakers') {
    const seen = new Map<RoutingPriority, ThresholdsJson>();
    (json?.thresholds ?? []).forEach((t, i) => {
      const p = t.priority ?? 'DEFAULT';
      if (p !== 'DEFAULT' && p !== 'HIGH') throw new LbError('CIRCUIT_BREAKER_CONFIG', `${where}.thresholds[${i}].priority: unknown ${p}`);
      if (seen.has(p)) throw new LbError('CIRCUIT_BREAKER_CONFIG', `${where}.thresholds[${i}]: a second entry for priority ${p}`);
      seen.set(p, t);
    });
    this.#byPriority = { DEFAULT: new ResourceManager(seen.get('DEFAULT'), this.stats), HIGH: new ResourceManager(seen.get('HIGH'), this.stats) };
  }

  forPriority(priority: RoutingPriority = 'DEFAULT'): ResourceManager {
    return this.#byPriority[priority];
  }
}
