// Envoy's retry_on conditions, parsed once from the comma list into a bit set.

export const RetryOn = {
  '5xx': 1 << 0,
  'gateway-error': 1 << 1,
  reset: 1 << 2,
  'connect-failure': 1 << 3,
  'retriable-4xx': 1 << 4,
  'refused-stream': 1 << 5,
  'retriable-status-codes': 1 << 6,
  'retriable-headers': 1 << 7,
  'envoy-ratelimited': 1 << 8,
  'reset-before-request': 1 << 9,
  cancelled: 1 << 10,
  'deadline-exceeded': 1 << 11,
  internal: 1 << 12,
  'resource-exhausted': 1 << 13,
  unavailable: 1 << 14,
  /** Envoy retries an HTTP/3 request that failed after connecting over TCP; the proxy has no HTTP/3 upstream, so nothing tests this bit. */
  'http3-post-connect-failure': 1 << 15,
} as const;

/**
 * The conditions a reset alone meets (no response is ever retried for them). reset-before-request and
 * connect-failure are met only by a try whose request never left: a policy of those alone replays
 * nothing, so the request body is not kept for it.
 */
export const RESET_ONLY = RetryOn.reset | RetryOn['connect-failure'] | RetryOn['refused-stream'] | RetryOn['reset-before-request'] | RetryOn['http3-post-connect-failure'];
export const BEFORE_SENT_ONLY = RetryOn['connect-failure'] | RetryOn['reset-before-request'];

/** gRPC status code → the retry_on bit that covers it. */
export const grpcRetryOn: ReadonlyMap<number, number> = new Map([
  [1, RetryOn.cancelled],
  [4, RetryOn['deadline-exceeded']],
  [13, RetryOn.internal],
  [8, RetryOn['resource-exhausted']],
  [14, RetryOn.unavailable],
]);

/**
 * Parses `5xx,connect-failure,...` (HTTP and gRPC names alike) into bits. As Envoy's RetryPolicyImpl,
 * which keeps `parseRetryOn(...).first | parseRetryGrpcOn(...).first`, a name it does not know is
 * skipped, silently (Envoy neither refuses nor counts it): retry_on never makes a route configuration
 * refused.
 */
export function parseRetryOn(text: string | undefined): number {
  let bits = 0;
  for (const raw of (text ?? '').split(',')) {
    const name = raw.trim();
    if (name === '') continue;
    const bit = Object.hasOwn(RetryOn, name) ? (RetryOn as Record<string, number>)[name] : undefined;
    if (bit !== undefined) bits |= bit;
  }
  return bits;
}
