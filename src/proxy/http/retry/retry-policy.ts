// Envoy's RetryPolicy compiled once per route; a RetryState per request counts attempts, decides
// whether an outcome is retried (Envoy's wouldRetryFromHeaders / wouldRetryFromReset), computes the
// jittered exponential back-off from an injected draw, and tracks hosts for previous_hosts and their
// priorities for previous_priorities (Istio's retryRemoteLocalities).
import { durationMs } from '../../../xds/duration.ts';
import type { EnvoyRetryPolicy } from '../route/envoy-types.ts';
import { RouteConfigError } from '../route/errors.ts';
import { compileHeaderMatchers, type HeaderPredicate } from '../route/header-matcher.ts';
import { headerValue } from '../route/request-headers.ts';
import type { DownstreamRequest, HeaderMap } from '../stream.ts';
import { BEFORE_SENT_ONLY, grpcRetryOn, parseRetryOn, RESET_ONLY, RetryOn } from './retry-on.ts';

/** Why an attempt ended without a usable response. */
export type ResetReason =
  | 'connect-failure'
  | 'refused-stream'
  | 'remote-reset'
  | 'local-reset'
  | 'per-try-timeout'
  | 'overflow'
  | 'protocol-error';

export type AttemptOutcome =
  | { readonly kind: 'response'; readonly status: number; readonly headers: HeaderMap }
  | { readonly kind: 'reset'; readonly reason: ResetReason; readonly requestSent?: boolean };

/**
 * `retry`: try again (after backoffMs); `not-retriable`: pass the outcome on; `exhausted`: it would be
 * retried but num_retries is used up (Envoy's URX); `body-too-large`: the request body was not kept.
 */
export type RetryDecision = 'retry' | 'not-retriable' | 'exhausted' | 'body-too-large';

export const DEFAULT_BASE_INTERVAL_MS = 25;
const previousHostsPredicate = 'envoy.retry_host_predicates.previous_hosts';
const previousPriorities = 'envoy.retry_priorities.previous_priorities';

export class RetryPolicy {
  readonly retryOn: number;
  readonly numRetries: number;
  readonly perTryTimeoutMs: number;
  readonly perTryIdleTimeoutMs: number;
  readonly baseIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly retriableStatusCodes: ReadonlySet<number>;
  readonly rejectPreviousHosts: boolean;
  readonly hostSelectionMaxAttempts: number;
  /** previous_priorities' update_frequency; 0 without a retry priority. */
  readonly priorityUpdateFrequency: number;
  /** Whether a response (not only a reset) can be retried: the router then reads each response head for it. */
  readonly retriesResponses: boolean;
  /**
   * Whether a retry may resend a request whose body has (partly) gone out, so the body is kept for
   * replay. Not for reset-before-request and connect-failure alone (the inbound routes' policy): they
   * retry only a try that sent nothing, whose body is still unread and goes to the next try as it is.
   */
  readonly replaysBody: boolean;
  readonly #retriableHeaders: readonly HeaderPredicate[];
  readonly #requestHeaders: readonly HeaderPredicate[];

  constructor(p: EnvoyRetryPolicy, path: string) {
    this.retryOn = parseRetryOn(p.retry_on);
    this.retriesResponses = (this.retryOn & ~RESET_ONLY) !== 0;
    this.replaysBody = (this.retryOn & ~BEFORE_SENT_ONLY) !== 0;
    this.numRetries = p.num_retries?.value ?? 1;
    this.perTryTimeoutMs = durationMs(p.per_try_timeout);
    this.perTryIdleTimeoutMs = durationMs(p.per_try_idle_timeout);
    const base = p.retry_back_off?.base_interval ? durationMs(p.retry_back_off.base_interval) : DEFAULT_BASE_INTERVAL_MS;
    if (!(base > 0)) throw new RouteConfigError(`${path}.retry_back_off.base_interval`, 'must be above 0');
    const max = p.retry_back_off?.max_interval ? durationMs(p.retry_back_off.max_interval) : base * 10;
    if (max < base) throw new RouteConfigError(`${path}.retry_back_off.max_interval`, 'must not be below base_interval');
    this.baseIntervalMs = base;
    this.maxIntervalMs = max;
    this.retriableStatusCodes = new Set(p.retriable_status_codes ?? []);
    const predicates = p.retry_host_predicate ?? [];
    predicates.forEach((pred, i) => {
      if (pred.name !== previousHostsPredicate) {
        throw new RouteConfigError(`${path}.retry_host_predicate[${i}].name`, `unsupported predicate ${String(pred.name)}`);
      }
    });
    this.rejectPreviousHosts = predicates.length > 0;
    this.hostSelectionMaxAttempts = Math.max(1, Number(p.host_selection_retry_max_attempts ?? 1));
    this.priorityUpdateFrequency = compileRetryPriority(p.retry_priority, `${path}.retry_priority`);
    this.#retriableHeaders = compileHeaderMatchers(p.retriable_headers, `${path}.retriable_headers`);
    this.#requestHeaders = compileHeaderMatchers(p.retriable_request_headers, `${path}.retriable_request_headers`);
  }

  /** Starts the retry state of one request. */
  start(request?: DownstreamRequest): RetryState {
    return new RetryState(this, this.enabledFor(request));
  }

  /** Whether this request may be retried at all (num_retries above 0, retriable_request_headers matched). */
  enabledFor(request?: DownstreamRequest): boolean {
    let enabled = this.numRetries > 0;
    if (enabled && request && this.#requestHeaders.length > 0) enabled = this.#requestHeaders.some((h) => h.match(request));
    return enabled;
  }

  /** Whether this outcome is one the policy retries (ignoring how many retries are left). */
  isRetriable(outcome: AttemptOutcome): boolean {
    const on = this.retryOn;
    if (outcome.kind === 'reset') {
      if (outcome.reason === 'overflow') return false;
      if (on & RetryOn['reset-before-request'] && outcome.requestSent === false) return true;
      if (on & (RetryOn['5xx'] | RetryOn['gateway-error'] | RetryOn.reset)) return true;
      if (on & RetryOn['refused-stream'] && outcome.reason === 'refused-stream') return true;
      return (on & RetryOn['connect-failure']) !== 0 && outcome.reason === 'connect-failure';
    }
    const { status, headers } = outcome;
    if (headers.has('x-envoy-overloaded')) return false;
    if (headers.has('x-envoy-ratelimited')) return (on & RetryOn['envoy-ratelimited']) !== 0;
    if (on & RetryOn['5xx'] && status >= 500 && status < 600) return true;
    if (on & RetryOn['gateway-error'] && (status === 502 || status === 503 || status === 504)) return true;
    if (on & RetryOn['retriable-4xx'] && status === 409) return true;
    if (on & RetryOn['retriable-status-codes'] && this.retriableStatusCodes.has(status)) return true;
    if (on & RetryOn['retriable-headers'] && this.#retriableHeaders.some((h) => h.matchHeaders(headers))) return true;
    const grpc = headerValue(headers, 'grpc-status');
    if (grpc !== undefined) {
      const bit = grpcRetryOn.get(Number(grpc));
      if (bit !== undefined && on & bit) return true;
    }
    return false;
  }

  /**
   * Back-off before retry number `retry` (1 for the first retry): full jitter over
   * min(base × 2^(retry-1), max), with `draw` in [0, 1).
   */
  backoffMs(retry: number, draw: number): number {
    const ceiling = Math.min(this.baseIntervalMs * 2 ** Math.max(0, retry - 1), this.maxIntervalMs);
    return Math.floor(draw * ceiling);
  }
}

export class RetryState {
  readonly policy: RetryPolicy;
  readonly enabled: boolean;
  #retries = 0;
  #bodyLost = false;
  /** Priority of each attempt, in order (previous_priorities); made only where the policy has one. */
  #priorities: number[] | undefined;
  #excluded: ReadonlySet<number> | undefined;

  constructor(policy: RetryPolicy, enabled: boolean) {
    this.policy = policy;
    this.enabled = enabled;
  }

  /** Retries granted so far; attempts made = retries + 1. */
  get retries(): number {
    return this.#retries;
  }

  /** Called when the request body outgrew the retry buffer: no further retry is possible. */
  markBodyLost(): void {
    this.#bodyLost = true;
  }

  /** Decides on one attempt's outcome; a `retry` decision counts the retry. */
  shouldRetry(outcome: AttemptOutcome): RetryDecision {
    if (!this.enabled || !this.policy.isRetriable(outcome)) return 'not-retriable';
    if (this.#retries >= this.policy.numRetries) return 'exhausted';
    if (this.#bodyLost) return 'body-too-large';
    this.#retries++;
    return 'retry';
  }

  /** Back-off before the retry just granted. */
  backoffMs(draw: number): number {
    return this.policy.backoffMs(this.#retries, draw);
  }

  /** Records the priority an attempt went to (previous_priorities). The router keeps the hosts (previous_hosts). */
  recordPriority(priority: number): void {
    if (this.policy.priorityUpdateFrequency === 0) return;
    this.#priorities ??= [];
    this.#priorities.push(priority);
  }

  /**
   * The priorities the next pick leaves out (previous_priorities), as Envoy's plugin: nothing before
   * `update_frequency` attempts; at each multiple of it, every priority tried so far; in between, the
   * last such set. The load balancer falls back to the normal load when every priority is excluded.
   */
  excludedPriorities(): ReadonlySet<number> | undefined {
    const every = this.policy.priorityUpdateFrequency;
    const n = this.#priorities?.length ?? 0;
    if (every === 0 || n < every) return undefined;
    if (n % every === 0) this.#excluded = new Set(this.#priorities);
    return this.#excluded;
  }

}

/** retry_priority → previous_priorities' update_frequency (0 when absent); anything else is refused. */
function compileRetryPriority(rp: EnvoyRetryPolicy['retry_priority'], path: string): number {
  if (!rp) return 0;
  if (rp.name !== previousPriorities) throw new RouteConfigError(`${path}.name`, `unsupported retry priority ${String(rp.name)}`);
  const frequency = Number(rp.typed_config?.['update_frequency'] ?? 0);
  if (!Number.isInteger(frequency) || frequency <= 0) throw new RouteConfigError(`${path}.typed_config.update_frequency`, 'must be an integer above 0');
  return frequency;
}
