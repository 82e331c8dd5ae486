// Where the CLI finds the control plane's debug API: --control-plane as given, with or without its
// scheme; without the flag, the running mesh's (src/cli/mesh-state.ts, tested there).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveDebugAddress } from './debug-client.ts';

test('a --control-plane address is HOST:PORT, its http:// or https:// dropped', () => {
  assert.equal(resolveDebugAddress('http://127.0.0.1:9'), '127.0.0.1:9');
  assert.equal(resolveDebugAddress('https://[::1]:15014'), '[::1]:15014');
  assert.equal(resolveDebugAddress('127.0.0.1:15014'), '127.0.0.1:15014');
});

test('the unspecified address a control plane on every interface prints is asked at loopback, which the debug API answers', () => {
  assert.equal(resolveDebugAddress('http://0.0.0.0:15014'), '127.0.0.1:15014');
  assert.equal(resolveDebugAddress('[::]:15014'), '[::1]:15014');
  assert.equal(resolveDebugAddress('localhost:15014'), 'localhost:15014');
});
