// The unified diff proxy-status PROXY prints: `diff -u`'s hunks and ranges, minimal edits, '' when equal.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unifiedDiff } from './unified-diff.ts';

const lines = (s: string) => s.split('');

test('equal texts have no diff', () => {
  assert.equal(unifiedDiff(lines('abc'), lines('abc'), 'A', 'B'), '');
  assert.equal(unifiedDiff([], [], 'A', 'B'), '');
});

test('a change is one hunk with its context and diff -u ranges', () => {
  assert.equal(unifiedDiff(lines('abcdefgh'), lines('abcXefgh'), 'A', 'B', 2), '--- A\n+++ B\n@@ -2,5 +2,5 @@\n b\n c\n-d\n+X\n e\n f\n');
  // One line on a side is `start` alone; none is `start-1,0`.
  assert.equal(unifiedDiff(['a'], ['b'], 'A', 'B', 2), '--- A\n+++ B\n@@ -1 +1 @@\n-a\n+b\n');
  assert.equal(unifiedDiff([], ['a', 'b'], 'A', 'B'), '--- A\n+++ B\n@@ -0,0 +1,2 @@\n+a\n+b\n');
});

test('changes further apart than twice the context are separate hunks', () => {
  const a = lines('abcdefghijklmnop');
  const b = lines('aXcdefghijklmnYp');
  assert.equal(unifiedDiff(a, b, 'A', 'B', 1), '--- A\n+++ B\n@@ -1,3 +1,3 @@\n a\n-b\n+X\n c\n@@ -14,3 +14,3 @@\n n\n-o\n+Y\n p\n');
});

test('the edit script is minimal and rebuilds both sides', () => {
  // Myers' classic example: ABCABBA → CBABAC takes 5 edits.
  const a = lines('ABCABBA');
  const b = lines('CBABAC');
  const diff = unifiedDiff(a, b, 'A', 'B', 100).split('\n').slice(3, -1);
  assert.equal(diff.filter((l) => l[0] !== ' ').length, 5);
  assert.deepEqual(diff.filter((l) => l[0] !== '+').map((l) => l.slice(1)), a);
  assert.deepEqual(diff.filter((l) => l[0] !== '-').map((l) => l.slice(1)), b);
});
