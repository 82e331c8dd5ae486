import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatTable } from './table.ts';

test('columns are padded to the widest cell plus three spaces, the last column unpadded', () => {
  const out = formatTable(['NAME', 'STATUS'], [['podinfo-stable-0', 'running'], ['x', 'failed']]);
  // 'podinfo-stable-0' is 16 characters: the first column is 19 wide.
  assert.equal(out, `${'NAME'.padEnd(19)}STATUS\n${'podinfo-stable-0'.padEnd(19)}running\n${'x'.padEnd(19)}failed`);
});
