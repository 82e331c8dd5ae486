import assert from 'node:assert/strict';
import { test } from 'node:test';
import { choosePriority, computePriorityLoad } from './priority-load.ts';

const cases: { name: string; counts: [number, number][]; threshold: number; load: number[]; panic: boolean[] }[] = [
  { name: 'all healthy', counts: [[4, 4]], threshold: 50, load: [100], panic: [false] },
  { name: '8 of 10 healthy: overprovisioned to 100, no panic', counts: [[10, 8]], threshold: 50, load: [100], panic: [false] },
  { name: '5 of 10 healthy is not below 50%', counts: [[10, 5]], threshold: 50, load: [100], panic: [false] },
  { name: '4 of 10 healthy panics', counts: [[10, 4]], threshold: 50, load: [100], panic: [true] },
  { name: 'threshold 0 never panics', counts: [[10, 1]], threshold: 0, load: [100], panic: [false] },
  { name: 'nothing healthy, threshold 0: no load', counts: [[3, 0]], threshold: 0, load: [0], panic: [false] },
  { name: 'P0 at 6/10 spills 16% to P1', counts: [[10, 6], [4, 4]], threshold: 50, load: [84, 16], panic: [false, false] },
  { name: 'P0 down: P1 takes all', counts: [[2, 0], [2, 2]], threshold: 50, load: [0, 100], panic: [false, false] },
  { name: 'both priorities panic: load by host count', counts: [[6, 1], [2, 0]], threshold: 50, load: [75, 25], panic: [true, true] },
  { name: 'total health 100: a 20% healthy P0 does not panic', counts: [[10, 2], [10, 6]], threshold: 50, load: [28, 72], panic: [false, false] },
  { name: 'total health below 100: only P0 panics', counts: [[10, 1], [10, 5]], threshold: 50, load: [17, 83], panic: [true, false] },
];

for (const c of cases) {
  test(`priority load: ${c.name}`, () => {
    const r = computePriorityLoad(c.counts.map(([total, healthy]) => ({ total, healthy })), c.threshold);
    assert.deepEqual(r.panic, c.panic);
    assert.deepEqual(r.load, c.load);
  });
}

test('choosePriority walks the cumulative load', () => {
  assert.equal(choosePriority([84, 16], 0), 0);
  assert.equal(choosePriority([84, 16], 83), 0);
  assert.equal(choosePriority([84, 16], 84), 1);
  assert.equal(choosePriority([0, 0], 10), -1);
});
