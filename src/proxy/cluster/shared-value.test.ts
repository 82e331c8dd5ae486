import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_SHARED_VALUES, sharedValue } from './shared-value.ts';

test('a key seen before gets the value made the first time', () => {
  const cache = new Map<string, object>();
  const first = sharedValue(cache, 'lr/2/1', () => ({}));
  assert.equal(sharedValue(cache, 'lr/2/1', () => ({})), first);
  assert.notEqual(sharedValue(cache, 'lr/3/1', () => ({})), first);
});

test('keys from config cannot grow the cache past its bound; later keys get values of their own', () => {
  const cache = new Map<string, { bias: number }>();
  for (let i = 0; i < MAX_SHARED_VALUES * 4; i++) sharedValue(cache, `lr/2/${i / 1000}`, () => ({ bias: i / 1000 }));
  assert.equal(cache.size, MAX_SHARED_VALUES);
  const late = `lr/2/${MAX_SHARED_VALUES * 5}`;
  const a = sharedValue(cache, late, () => ({ bias: 1 }));
  const b = sharedValue(cache, late, () => ({ bias: 1 }));
  assert.deepEqual(a, { bias: 1 });
  assert.notEqual(a, b, 'past the bound each caller gets a fresh value');
  assert.equal(cache.size, MAX_SHARED_VALUES);
});
