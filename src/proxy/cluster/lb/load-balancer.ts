// The one load balancer contract every policy implements (ROUND_ROBIN, LEAST_REQUEST, RANDOM,
// RING_HASH, MAGLEV, CLUSTER_PROVIDED), and the host, context and dependencies it works with.

/** What a load balancer needs to know about an endpoint. The proxy's `Endpoint` satisfies it. */
export interface LbHost {
  /** `address:port`: identity across updates, the key outlier detection and retries use. */
  readonly key: string;
  /** `load_balancing_weight` of the LbEndpoint (1 when unset). */
  readonly weight: number;
  /** EDS health (UNKNOWN, HEALTHY and DEGRADED count as healthy). Outlier ejection is separate. */
  readonly healthy: boolean;
  /** `LocalityLbEndpoints.priority` (0 when unset). */
  readonly priority?: number;
  /** `region/zone/sub_zone` of the LocalityLbEndpoints the host came in. */
  readonly locality?: string;
  /** `LocalityLbEndpoints.load_balancing_weight`, when the control plane set one. */
  readonly localityWeight?: number;
  /** Requests in flight to this host (LEAST_REQUEST reads it; `onRequestStart/End` move it). */
  active: number;
}

/** Uniform random in [0, 1). Injected so tests are deterministic. */
export type Random = () => number;

/** Milliseconds on a monotonic clock. Injected so slow start is tested without waiting. */
export type Clock = () => number;

/** Live exclusion of hosts (outlier ejection). `generation` changes whenever the answer may change. */
export interface HostHealth {
  readonly generation: number;
  isEjected(key: string): boolean;
}

export interface LbContext {
  /** The request hash from the route's hash policy (unsigned 32-bit); absent means a random pick. */
  readonly hash?: number | null;
  /** Hosts already tried by this request (the `previous_hosts` retry predicate rejects them). */
  readonly attempted?: ReadonlySet<string>;
  /** How many picks may be rejected by `attempted` before the last one is taken (Istio sets 5). */
  readonly maxSelectionAttempts?: number;
  /** Priorities a retry leaves out (the `previous_priorities` retry priority); absent for first tries. */
  readonly excludedPriorities?: ReadonlySet<number> | undefined;
  /** PASSTHROUGH / ORIGINAL_DST: where the downstream connection was going. */
  readonly originalDestination?: { readonly address: string; readonly port: number };
}

export interface LoadBalancer<H extends LbHost = LbHost> {
  /** The policy name as Envoy spells it. */
  readonly policy: string;
  /** A host for this request, or null (no healthy upstream: 503 UH). */
  pick(context?: LbContext): H | null;
  /** A new host list (EDS update); state of hosts that stay (slow start, counters) is kept. */
  update(hosts: readonly H[]): void;
  /** Active request tracking: call when a request is sent to a host and when it ends. */
  onRequestStart(host: H): void;
  onRequestEnd(host: H): void;
  /** Counters in Envoy's names: `lb_healthy_panic`, `upstream_cx_none_healthy`... */
  readonly stats: Readonly<LbStats>;
}

export interface LbStats {
  /** Picks made while the chosen priority was in panic (all hosts used regardless of health). */
  lb_healthy_panic: number;
  /** Picks that found no host. */
  upstream_cx_none_healthy: number;
}

export interface LbDeps<H extends LbHost> {
  random: Random;
  now: Clock;
  /** Outlier detection; hosts it ejects count as unhealthy. */
  health?: HostHealth;
  /** Builds the host for an original destination (CLUSTER_PROVIDED / PASSTHROUGH clusters). */
  originalHost?: (address: string, port: number) => H;
}

/** A load balancer error (bad config, or a policy that cannot run here); `code` is stable. */
export class LbError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LbError';
    this.code = code;
  }
}
