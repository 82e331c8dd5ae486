// The proxy command's argument parsing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePortMap } from '../proxy/run-proxy.ts';

test('parses --port-map and rejects malformed entries', () => {
  assert.deepEqual([...parsePortMap('15001=41000, 15008=41002')], [
    [15001, 41000],
    [15008, 41002],
  ]);
  assert.deepEqual([...parsePortMap(undefined)], []);
  assert.throws(() => parsePortMap('15001:41000'), { code: 'PROXY_ARGS' });
});
