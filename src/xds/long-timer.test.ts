import assert from 'node:assert/strict';
import { test } from 'node:test';
import { longTimer, MAX_TIMER_MS } from './long-timer.ts';

/** Timers that only record: the test runs each armed step itself. */
function recorder() {
  const armed: { fn: () => void; ms: number }[] = [];
  return { armed, set: (fn: () => void, ms: number) => armed.push({ fn, ms }) - 1 };
}

test('a delay beyond what a Node timer holds is reached in steps, each within the limit', () => {
  const t = recorder();
  let fired = 0;
  const timer = longTimer(t.set, 2 * MAX_TIMER_MS + 5, () => fired++);
  assert.deepEqual(t.armed.map((a) => a.ms), [MAX_TIMER_MS]);
  t.armed[0]?.fn();
  t.armed[1]?.fn();
  assert.deepEqual(t.armed.map((a) => a.ms), [MAX_TIMER_MS, MAX_TIMER_MS, 5]);
  assert.equal(fired, 0, 'not before the whole delay');
  assert.equal(timer.handle, 2, 'the handle is the step armed now');
  t.armed[2]?.fn();
  assert.equal(fired, 1);
});

test('a short, zero or past delay is one step, on the timer, never at once', () => {
  for (const [ms, want] of [[1000, 1000], [0, 0], [-50, 0]] as const) {
    const t = recorder();
    let fired = 0;
    longTimer(t.set, ms, () => fired++);
    assert.deepEqual(t.armed.map((a) => a.ms), [want]);
    assert.equal(fired, 0);
    t.armed[0]?.fn();
    assert.equal(fired, 1);
  }
});
