import assert from 'node:assert/strict';
import { test } from 'node:test';
import { duration, durationMs, parseDurationMs } from './duration.ts';

test('Istio duration strings parse to milliseconds', () => {
  const cases: [string, number | undefined][] = [
    ['2s', 2000], ['100ms', 100], ['1.5s', 1500], ['1m30s', 90_000], ['1h', 3_600_000], ['250us', 0.25],
    ['', undefined], ['2', undefined], ['s', undefined], ['2x', undefined], ['-1s', undefined],
  ];
  for (const [text, ms] of cases) assert.equal(parseDurationMs(text), ms, text);
});

test('xDS durations round-trip through milliseconds', () => {
  for (const ms of [0, 1, 250, 1000, 1500, 30_000, 86_400_000]) assert.equal(durationMs(duration(ms)), ms);
  assert.deepEqual(duration(2500), { seconds: '2', nanos: 500_000_000 });
});
