import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XdsStreamLog } from './xds-stream-log.ts';

test('a lost stream is one warning, its retries debug, its return one info line with how long it was gone', () => {
  let now = 1_000;
  const log = new XdsStreamLog('cp:15012', () => now);
  assert.deepEqual(log.line({ kind: 'connected' }), ['debug', 'xds {"kind":"connected"}']);
  assert.deepEqual(log.line({ kind: 'responding' }), ['debug', 'xds {"kind":"responding"}']);
  // The reasons as the ADS client gives them: the gRPC code, then its details.
  assert.deepEqual(log.line({ kind: 'disconnected', reason: '14: Connection dropped', retryInMs: 500 }), [
    'warning',
    'xDS stream to cp:15012 closed (14: Connection dropped); serving the last config received, reconnecting',
  ]);
  // A stream opened again to a control plane still down is not its return.
  now += 500;
  assert.equal(log.line({ kind: 'connected' })[0], 'debug');
  now += 1_500;
  assert.equal(log.line({ kind: 'disconnected', reason: '14: No connection established', retryInMs: 1000 })[0], 'debug');
  now += 3_500;
  assert.equal(log.line({ kind: 'connected' })[0], 'debug');
  assert.deepEqual(log.line({ kind: 'responding' }), ['info', 'xDS stream to cp:15012 re-established after 5.5 s']);
  // The next loss is said again.
  assert.equal(log.line({ kind: 'disconnected', reason: 'x', retryInMs: 500 })[0], 'warning');
  assert.equal(log.line({ kind: 'nack', typeUrl: 't', version: 'v', message: 'bad' })[0], 'warning');
  assert.equal(log.line({ kind: 'ack', typeUrl: 't', version: 'v' })[0], 'debug');
});
