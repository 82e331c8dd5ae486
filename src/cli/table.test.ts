import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatTable } from './table.ts';

test('columns are padded to the widest cell plus three spaces, the last column unpadded', () => {
  const out = formatTable(['NAME', 'STATUS'], [['podinfo-stable-0', 'running'], ['x', 'failed']]);
  assert.equal(out, 'NAME                STATUS\npodinfo-stable-0    running\nx                   failed');
});
