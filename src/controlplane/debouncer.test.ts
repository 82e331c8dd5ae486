import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from './clock.ts';
import { Debouncer } from './debouncer.ts';

function setup() {
  const clock = new ManualClock();
  const fired: [number, number][] = [];
  const d = new Debouncer({ quietMs: 100, maxMs: 10_000, clock, onFire: (n, w) => fired.push([n, w]) });
  return { clock, fired, d };
}

test('a burst fires once after the quiet period', () => {
  const { clock, fired, d } = setup();
  for (let i = 0; i < 50; i++) {
    d.trigger();
    clock.advance(10);
  }
  assert.deepEqual(fired, []);
  // the last event was 10 ms ago
  clock.advance(89);
  assert.deepEqual(fired, []);
  clock.advance(1);
  assert.deepEqual(fired, [[50, 590]]);
});

test('a never-ending stream of events still fires at the maximum delay', () => {
  const { clock, fired, d } = setup();
  for (let i = 0; i < 300; i++) {
    d.trigger();
    clock.advance(50);
  }
  // 15 s of events every 50 ms: fired at 10 s, then the rest pending.
  assert.equal(fired.length, 1);
  assert.equal(fired[0]?.[1], 10_000);
  clock.advance(100);
  assert.equal(fired.length, 2);
});

test('flush fires at once and cancel drops the burst', () => {
  const { clock, fired, d } = setup();
  d.trigger();
  d.flush();
  assert.equal(fired.length, 1);
  d.trigger();
  d.cancel();
  clock.advance(1000);
  assert.equal(fired.length, 1);
  assert.equal(clock.pending, 0);
});

test('after close, events arm nothing: a shutdown that closes streams fires no burst', () => {
  const { clock, fired, d } = setup();
  d.trigger();
  d.close();
  d.trigger();
  assert.equal(clock.pending, 0);
  clock.advance(20_000);
  assert.deepEqual(fired, []);
  assert.equal(d.pending, false);
});
