// Retry policy state machine and request-body buffering for retries.
export { grpcRetryOn, parseRetryOn, RetryOn } from './retry-on.ts';
export { DEFAULT_RETRY_BUFFER_LIMIT, RetryBodyBuffer } from './retry-buffer.ts';
export {
  type AttemptOutcome,
  DEFAULT_BASE_INTERVAL_MS,
  type ResetReason,
  type RetryDecision,
  RetryPolicy,
  RetryState,
} from './retry-policy.ts';
