import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mix32, xxHash32 } from './hash.ts';

test('xxHash32 matches the reference vectors', () => {
  assert.equal(xxHash32(''), 0x02cc5d05);
  assert.equal(xxHash32('a'), 0x550d7456);
  assert.equal(xxHash32('abc'), 0x32d153ff);
  assert.equal(xxHash32('Nobody inspects the spammish repetition'), 0xe2293b2f);
});

test('mix32 is a stable bijection on a sample', () => {
  const seen = new Set<number>();
  for (let i = 0; i < 10_000; i++) seen.add(mix32(i));
  assert.equal(seen.size, 10_000);
  assert.equal(mix32(0), 0);
  assert.notEqual(mix32(1) >>> 24, mix32(2) >>> 24);
});
