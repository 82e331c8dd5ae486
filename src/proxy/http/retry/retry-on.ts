// Envoy's retry_on conditions, parsed once from the comma list into a bit set.
import { RouteConfigError } from '../route/errors.ts';

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
} as const;

/** gRPC status code → the retry_on bit that covers it. */
export const grpcRetryOn: ReadonlyMap<number, number> = new Map([
  [1, RetryOn.cancelled],
  [4, RetryOn['deadline-exceeded']],
  [13, RetryOn.internal],
  [8, RetryOn['resource-exhausted']],
  [14, RetryOn.unavailable],
]);

/** Parses `5xx,connect-failure,...` into bits; unknown names are refused. */
export function parseRetryOn(text: string | undefined, path: string): number {
  let bits = 0;
  for (const raw of (text ?? '').split(',')) {
    const name = raw.trim();
    if (name === '') continue;
    const bit = (RetryOn as Record<string, number>)[name];
    if (bit === undefined) throw new RouteConfigError(path, `unknown retry_on condition ${JSON.stringify(name)}`);
    bits |= bit;
  }
  return bits;
}
