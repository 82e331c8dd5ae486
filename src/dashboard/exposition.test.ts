// The exposition parser against the registry's own output and the format's edge cases.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricsRegistry } from '../telemetry/metrics/registry.ts';
import { ExpositionError, parseExposition } from './exposition.ts';
import { histogramQuantile } from './histogram-quantile.ts';

test('reads what the metrics registry renders, escapes included', () => {
  const r = new MetricsRegistry();
  r.counter('requests_total', 'r').bind({ path: 'a "quoted" \\ path\nnext', code: '200' }).inc(3);
  r.histogram('latency_ms', 'l', [1, 10]).bind({ svc: 'x' }).observe(5);
  const samples = parseExposition(r.renderPrometheus());
  assert.deepEqual(samples[0], { name: 'requests_total', labels: { path: 'a "quoted" \\ path\nnext', code: '200' }, value: 3 });
  assert.deepEqual(
    samples.filter((s) => s.name === 'latency_ms_bucket').map((s) => [s.labels['le'], s.value]),
    [
      ['1', 0],
      ['10', 1],
      ['+Inf', 1],
    ],
  );
});

test('keeps only the asked families; timestamps, special values and blank lines', () => {
  const text = '# HELP a x\n# TYPE a counter\na{x="1"} 1.5e3 1700000000000\n\nb 2\nc +Inf\nd NaN\n';
  assert.deepEqual(
    parseExposition(text, (n) => n !== 'b').map((s) => [s.name, s.value]),
    [
      ['a', 1500],
      ['c', Number.POSITIVE_INFINITY],
      ['d', Number.NaN],
    ],
  );
});

test('bad lines are errors with a line number and a code', () => {
  for (const [text, line] of [
    ['a 1\nb{x=1} 2', 2],
    ['a{x="1} 1', 1],
    ['{x="1"} 1', 1],
    ['a one', 1],
  ] as const) {
    assert.throws(
      () => parseExposition(text),
      (e: unknown) => e instanceof ExpositionError && e.code === 'DASHBOARD_BAD_EXPOSITION' && e.line === line,
      text,
    );
  }
});

test('histogram_quantile interpolates as Prometheus does', () => {
  const b = new Map([
    [5, 90],
    [10, 90],
    [500, 100],
    [Number.POSITIVE_INFINITY, 100],
  ]);
  assert.equal(histogramQuantile(0.5, b), 5 * (50 / 90));
  assert.equal(histogramQuantile(0.95, b), 10 + 490 * 0.5);
  assert.equal(histogramQuantile(1, b), 500);
  // rank in the +Inf bucket: the highest finite bound
  assert.equal(histogramQuantile(0.99, new Map([[1, 1], [Number.POSITIVE_INFINITY, 10]])), 1);
  assert.equal(histogramQuantile(0.5, new Map([[1, 0], [Number.POSITIVE_INFINITY, 0]])), undefined);
  assert.equal(histogramQuantile(0.5, new Map([[1, 3]])), undefined);
});
