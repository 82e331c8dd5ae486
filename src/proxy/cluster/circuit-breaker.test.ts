import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CircuitBreakers } from './circuit-breaker.ts';
import { LbError } from './lb/load-balancer.ts';

test("overflow starts at exactly the configured bound (the seed's pool: 100 connections, 50 pending)", () => {
  const cb = new CircuitBreakers({ thresholds: [{ max_connections: { value: 100 }, max_pending_requests: { value: 50 }, max_requests: { value: 4294967295 }, max_retries: { value: 3 } }] });
  const rm = cb.forPriority();
  for (let i = 0; i < 100; i++) assert.equal(rm.tryAcquireConnection(), true, `connection ${i + 1}`);
  assert.equal(rm.tryAcquireConnection(), false);
  assert.equal(cb.stats.upstream_cx_overflow, 1);
  for (let i = 0; i < 50; i++) assert.equal(rm.tryAcquirePending(), true);
  assert.equal(rm.pendingRequests.open, true);
  assert.equal(rm.tryAcquirePending(), false);
  assert.equal(rm.tryAcquirePending(), false);
  assert.equal(cb.stats.upstream_rq_pending_overflow, 2);
  rm.releasePending();
  assert.equal(rm.tryAcquirePending(), true, 'a freed slot is usable again');
  assert.equal(rm.pendingRequests.remaining, 0);
});

test('Envoy defaults when unset: 1024 connections, pending, requests; 3 retries', () => {
  const cb = new CircuitBreakers(undefined);
  const rm = cb.forPriority('HIGH');
  assert.equal(rm.requests.max, 1024);
  for (let i = 0; i < 3; i++) assert.equal(rm.tryAcquireRetry(), true);
  assert.equal(rm.tryAcquireRetry(), false);
  assert.equal(cb.stats.upstream_rq_retry_overflow, 1);
  for (let i = 0; i < 1024; i++) rm.tryAcquireRequest();
  assert.equal(rm.tryAcquireRequest(), false);
  assert.equal(cb.stats.upstream_rq_pending_overflow, 1, 'max_requests overflow counts as pending overflow, as in Envoy');
});

test('priorities are separate; a bad threshold list is a CIRCUIT_BREAKER_CONFIG error', () => {
  const cb = new CircuitBreakers({ thresholds: [{ max_requests: { value: 1 } }, { priority: 'HIGH', max_requests: { value: 2 } }] });
  assert.equal(cb.forPriority('DEFAULT').tryAcquireRequest(), true);
  assert.equal(cb.forPriority('DEFAULT').tryAcquireRequest(), false);
  assert.equal(cb.forPriority('HIGH').tryAcquireRequest(), true);
  assert.throws(() => new CircuitBreakers({ thresholds: [{}, {}] }), (e: unknown) => e instanceof LbError && e.code === 'CIRCUIT_BREAKER_CONFIG');
});
