import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closest, editDistance } from './did-you-mean.ts';

test('edit distance', () => {
  assert.equal(editDistance('weight', 'weight'), 0);
  assert.equal(editDistance('wieght', 'weight'), 2);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('a', 'abcdefgh', 2), 3, 'stops early past the limit');
});

test('closest suggests only plausible typos', () => {
  assert.equal(closest('wieght', ['weight', 'headers', 'destination']), 'weight');
  assert.equal(closest('ROUND_ROBBIN', ['ROUND_ROBIN', 'RANDOM']), 'ROUND_ROBIN');
  assert.equal(closest('virtualservice', ['VirtualService']), 'VirtualService');
  assert.equal(closest('zzz', ['weight', 'headers']), undefined);
});
