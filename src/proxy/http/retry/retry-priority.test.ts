// previous_priorities (Istio's retryRemoteLocalities): which priorities each try leaves out, the load
// spread over what is left, and the config the proxy refuses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadExcluding } from '../../cluster/lb/priority-load.ts';
import { RetryPolicy } from './retry-policy.ts';

const priority = (update_frequency: unknown, name = 'envoy.retry_priorities.previous_priorities') => ({
  retry_on: '5xx',
  num_retries: { value: 5 },
  retry_priority: { name, typed_config: { '@type': 'x', update_frequency } },
});

test('update_frequency 2: tries 1-2 normal, 3-4 without the first two tries, 5-6 without the first four', () => {
  const state = new RetryPolicy(priority(2) as never, 'r').start();
  const seen: (number[] | undefined)[] = [];
  const tried = [0, 0, 1, 1, 2, 2];
  for (const p of tried) {
    const ex = state.excludedPriorities();
    seen.push(ex ? [...ex].sort() : undefined);
    state.recordPriority(p);
  }
  assert.deepEqual(seen, [undefined, undefined, [0], [0], [0, 1], [0, 1]]);
});

test('update_frequency 1 renews the set at every try', () => {
  const state = new RetryPolicy(priority(1) as never, 'r').start();
  assert.equal(state.excludedPriorities(), undefined);
  state.recordPriority(0);
  assert.deepEqual([...(state.excludedPriorities() ?? [])], [0]);
  state.recordPriority(1);
  assert.deepEqual([...(state.excludedPriorities() ?? [])].sort(), [0, 1]);
});

test('without retry_priority nothing is ever left out', () => {
  const state = new RetryPolicy({ retry_on: '5xx', num_retries: { value: 3 } }, 'r').start();
  for (let i = 0; i < 4; i++) {
    assert.equal(state.excludedPriorities(), undefined);
    state.recordPriority(i);
  }
});

test('an unknown retry priority or a bad update_frequency is refused with its path', () => {
  assert.throws(() => new RetryPolicy(priority(2, 'envoy.retry_priorities.other') as never, 'vh.routes[0].route.retry_policy'), {
    code: 'ROUTE_CONFIG',
    message: /retry_policy\.retry_priority\.name: unsupported retry priority/,
  });
  for (const bad of [0, -1, 1.5, undefined]) {
    assert.throws(() => new RetryPolicy(priority(bad) as never, 'p'), { code: 'ROUTE_CONFIG', message: /update_frequency/ }, String(bad));
  }
});

test('loadExcluding: the excluded priorities take nothing, the rest is spread by health', () => {
  const healthy = (total: number, ok = total) => ({ total, healthy: ok });
  assert.deepEqual(loadExcluding([healthy(2), healthy(1), healthy(1)], new Set([0])), [0, 100, 0]);
  assert.deepEqual(loadExcluding([healthy(2), healthy(1), healthy(1)], new Set([0, 1])), [0, 0, 100]);
  // Priority 1 at half health (70) and priority 2 fully healthy: capped total 100, 70 then 30.
  assert.deepEqual(loadExcluding([healthy(2), healthy(2, 1), healthy(1)], new Set([0])), [0, 70, 30]);
  // Everything excluded (or nothing healthy left): the caller keeps the normal load.
  assert.equal(loadExcluding([healthy(2), healthy(1)], new Set([0, 1])), undefined);
  assert.equal(loadExcluding([healthy(2), healthy(1, 0)], new Set([0])), undefined);
});
