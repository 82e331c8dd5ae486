import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HeaderMap } from '../stream.ts';
import { RetryBodyBuffer } from './retry-buffer.ts';
import { parseRetryOn, RetryOn } from './retry-on.ts';
import { type AttemptOutcome, RetryPolicy } from './retry-policy.ts';

const res = (status: number, headers: Record<string, string> = {}): AttemptOutcome => ({
  kind: 'response',
  status,
  headers: new Map(Object.entries(headers)) as HeaderMap,
});
const reset = (reason: 'connect-failure' | 'refused-stream' | 'remote-reset' | 'per-try-timeout' | 'overflow'): AttemptOutcome => ({ kind: 'reset', reason });

/** Plays outcomes until one is not retried; returns the number of attempts made and the last decision. */
function play(policy: RetryPolicy, outcomes: AttemptOutcome[]): { attempts: number; last: string } {
  const state = policy.start();
  for (let i = 0; i < outcomes.length; i++) {
    const d = state.shouldRetry(outcomes[i] as AttemptOutcome);
    if (d !== 'retry') return { attempts: i + 1, last: d };
  }
  return { attempts: outcomes.length, last: 'retry' };
}

const seed = new RetryPolicy({ retry_on: '5xx,connect-failure,reset', num_retries: { value: 3 }, per_try_timeout: { seconds: '2' } }, 'p');

const table: { name: string; policy: RetryPolicy; outcomes: AttemptOutcome[]; attempts: number; last: string }[] = [
  { name: 'seed policy: 503 then 200 → 2 attempts', policy: seed, outcomes: [res(503), res(200)], attempts: 2, last: 'not-retriable' },
  { name: 'seed policy: four 500s → exactly 4 attempts, then exhausted', policy: seed, outcomes: [res(500), res(500), res(500), res(500), res(500)], attempts: 4, last: 'exhausted' },
  { name: 'seed policy: connect failures are retried', policy: seed, outcomes: [reset('connect-failure'), reset('connect-failure'), res(200)], attempts: 3, last: 'not-retriable' },
  { name: 'seed policy: 404 is not retried', policy: seed, outcomes: [res(404)], attempts: 1, last: 'not-retriable' },
  { name: 'seed policy: per-try timeout counts as reset', policy: seed, outcomes: [reset('per-try-timeout'), res(200)], attempts: 2, last: 'not-retriable' },
  { name: 'overflow is never retried', policy: seed, outcomes: [reset('overflow')], attempts: 1, last: 'not-retriable' },
  { name: 'x-envoy-overloaded is never retried', policy: seed, outcomes: [res(503, { 'x-envoy-overloaded': 'true' })], attempts: 1, last: 'not-retriable' },
  { name: 'gateway-error: 502 retried, 500 not', policy: new RetryPolicy({ retry_on: 'gateway-error', num_retries: { value: 2 } }, 'p'), outcomes: [res(502), res(500)], attempts: 2, last: 'not-retriable' },
  { name: 'connect-failure only: remote reset not retried', policy: new RetryPolicy({ retry_on: 'connect-failure' }, 'p'), outcomes: [reset('remote-reset')], attempts: 1, last: 'not-retriable' },
  { name: 'refused-stream', policy: new RetryPolicy({ retry_on: 'refused-stream', num_retries: { value: 1 } }, 'p'), outcomes: [reset('refused-stream'), reset('refused-stream')], attempts: 2, last: 'exhausted' },
  { name: 'retriable-4xx retries 409 only', policy: new RetryPolicy({ retry_on: 'retriable-4xx', num_retries: { value: 5 } }, 'p'), outcomes: [res(409), res(429)], attempts: 2, last: 'not-retriable' },
  { name: 'retriable-status-codes', policy: new RetryPolicy({ retry_on: 'retriable-status-codes', retriable_status_codes: [429], num_retries: { value: 2 } }, 'p'), outcomes: [res(429), res(429), res(429)], attempts: 3, last: 'exhausted' },
  { name: 'retriable-headers', policy: new RetryPolicy({ retry_on: 'retriable-headers', retriable_headers: [{ name: 'x-retry', string_match: { exact: 'yes' } }], num_retries: { value: 2 } }, 'p'), outcomes: [res(200, { 'x-retry': 'yes' }), res(200)], attempts: 2, last: 'not-retriable' },
  { name: 'gRPC unavailable', policy: new RetryPolicy({ retry_on: 'unavailable,cancelled', num_retries: { value: 2 } }, 'p'), outcomes: [res(200, { 'grpc-status': '14' }), res(200, { 'grpc-status': '1' }), res(200, { 'grpc-status': '14' })], attempts: 3, last: 'exhausted' },
  { name: 'gRPC internal not covered', policy: new RetryPolicy({ retry_on: 'unavailable', num_retries: { value: 2 } }, 'p'), outcomes: [res(200, { 'grpc-status': '13' })], attempts: 1, last: 'not-retriable' },
  { name: 'gRPC deadline-exceeded and resource-exhausted', policy: new RetryPolicy({ retry_on: 'deadline-exceeded,resource-exhausted,internal', num_retries: { value: 5 } }, 'p'), outcomes: [res(200, { 'grpc-status': '4' }), res(200, { 'grpc-status': '8' }), res(200, { 'grpc-status': '13' }), res(200, { 'grpc-status': '0' })], attempts: 4, last: 'not-retriable' },
  { name: 'num_retries 0 disables', policy: new RetryPolicy({ retry_on: '5xx', num_retries: { value: 0 } }, 'p'), outcomes: [res(503)], attempts: 1, last: 'not-retriable' },
  { name: 'num_retries defaults to 1', policy: new RetryPolicy({ retry_on: '5xx' }, 'p'), outcomes: [res(503), res(503)], attempts: 2, last: 'exhausted' },
];

for (const row of table) {
  test(`retry: ${row.name}`, () => {
    assert.deepEqual(play(row.policy, row.outcomes), { attempts: row.attempts, last: row.last });
  });
}

test('backoff: full jitter over base × 2^(n-1), capped at max (defaults 25 ms / 250 ms)', () => {
  const p = new RetryPolicy({ retry_on: '5xx' }, 'p');
  assert.equal(p.baseIntervalMs, 25);
  assert.equal(p.maxIntervalMs, 250);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => p.backoffMs(n, 0.999999)), [24, 49, 99, 199, 249, 249]);
  assert.equal(p.backoffMs(3, 0), 0);
  assert.equal(p.backoffMs(2, 0.5), 25);
  const custom = new RetryPolicy({ retry_on: '5xx', retry_back_off: { base_interval: { seconds: '0', nanos: 100_000_000 }, max_interval: { seconds: '1' } } }, 'p');
  assert.equal(custom.backoffMs(4, 0.5), 400);
  assert.equal(custom.backoffMs(5, 0.5), 500);
});

test('the state gives the back-off of the retry just granted', () => {
  const state = seed.start();
  assert.equal(state.shouldRetry(res(503)), 'retry');
  assert.equal(state.backoffMs(0.5), 12);
  assert.equal(state.shouldRetry(res(503)), 'retry');
  assert.equal(state.backoffMs(0.5), 25);
  assert.equal(state.retries, 2);
});

test('previous_hosts and host_selection_retry_max_attempts compile (the router applies them: test/resilience/retry-previous-hosts.test.ts)', () => {
  const p = new RetryPolicy(
    { retry_on: '5xx', retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts' }], host_selection_retry_max_attempts: '5' },
    'p',
  );
  assert.equal(p.rejectPreviousHosts, true);
  assert.equal(p.hostSelectionMaxAttempts, 5);
  assert.equal(seed.rejectPreviousHosts, false);
});

test('a body past the buffer bound stops retries', () => {
  const buffer = new RetryBodyBuffer(8);
  assert.equal(buffer.push(new Uint8Array(5)), true);
  assert.equal(buffer.push(new Uint8Array(3)), true);
  assert.equal(buffer.chunks().length, 2);
  assert.equal(buffer.push(new Uint8Array(1)), false);
  assert.equal(buffer.overflowed, true);
  assert.equal(buffer.chunks().length, 0);
  const state = seed.start();
  state.markBodyLost();
  assert.equal(state.shouldRetry(res(503)), 'body-too-large');
  assert.equal(new RetryBodyBuffer().limit, 65536);
});

test('retry_on: names Envoy does not know are skipped, not refused (RetryPolicyImpl keeps parseRetryOn(...).first)', () => {
  const p = new RetryPolicy({ retry_on: '5xx, bogus,,http3-post-connect-failure,toString' }, 'r');
  assert.equal(p.retryOn, RetryOn['5xx'] | RetryOn['http3-post-connect-failure']);
  assert.equal(play(p, [res(503), res(200)]).attempts, 2);
  assert.equal(parseRetryOn('bogus,unavailable,constructor'), RetryOn.unavailable);
  assert.equal(new RetryPolicy({ retry_on: 'bogus' }, 'r').start().shouldRetry(res(503)), 'not-retriable');
  // No HTTP/3 upstream here: http3-post-connect-failure alone retries nothing.
  assert.equal(new RetryPolicy({ retry_on: 'http3-post-connect-failure' }, 'r').start().shouldRetry(reset('connect-failure')), 'not-retriable');
});

test('bad policies are refused with their field path', () => {
  assert.throws(() => new RetryPolicy({ retry_host_predicate: [{ name: 'x' }] }, 'r'), /retry_host_predicate\[0\]\.name/);
  assert.throws(() => new RetryPolicy({ retry_back_off: { base_interval: { seconds: '1' }, max_interval: { seconds: '0', nanos: 5 } } }, 'r'), /max_interval/);
});

test('retriable_request_headers gate retries per request', () => {
  const p = new RetryPolicy({ retry_on: '5xx', retriable_request_headers: [{ name: ':method', string_match: { exact: 'GET' } }] }, 'p');
  const base = { scheme: 'http' as const, authority: 'a', sentAuthority: 'a', path: '/', query: '', headers: new Map(), protocol: 'HTTP/1.1' as const };
  const conn = { remoteAddress: '', remotePort: 0, localAddress: '', localPort: 0, tls: false };
  assert.equal(p.start({ ...base, method: 'GET', connection: conn }).shouldRetry(res(503)), 'retry');
  assert.equal(p.start({ ...base, method: 'POST', connection: conn }).shouldRetry(res(503)), 'not-retriable');
});

test('a policy of reset-before-request or connect-failure alone keeps no body and reads no response head', () => {
  for (const retry_on of ['reset-before-request', 'connect-failure', 'reset-before-request,connect-failure,bogus']) {
    const p = new RetryPolicy({ retry_on, num_retries: { value: 2 } }, 'r');
    assert.equal(p.replaysBody, false, retry_on);
    assert.equal(p.retriesResponses, false, retry_on);
  }
  assert.equal(new RetryPolicy({ retry_on: 'reset-before-request,refused-stream' }, 'r').replaysBody, true);
  assert.equal(new RetryPolicy({ retry_on: 'reset,refused-stream' }, 'r').retriesResponses, false);
  assert.equal(new RetryPolicy({ retry_on: 'reset,unavailable' }, 'r').retriesResponses, true);
  const rbr = new RetryPolicy({ retry_on: 'reset-before-request', num_retries: { value: 2 } }, 'r');
  assert.equal(rbr.start().shouldRetry({ kind: 'reset', reason: 'connect-failure', requestSent: false }), 'retry');
  assert.equal(rbr.start().shouldRetry({ kind: 'reset', reason: 'remote-reset', requestSent: true }), 'not-retriable');
});
