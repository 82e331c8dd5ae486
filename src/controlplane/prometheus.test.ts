import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricRegistry } from './prometheus.ts';

test('counters, gauges and histograms render in the text exposition format', () => {
  const m = new MetricRegistry();
  const pushes = m.counter('pilot_xds_pushes', 'Pushes by type.');
  pushes.inc({ type: 'cds' });
  pushes.inc({ type: 'cds' }, 2);
  m.gauge('pilot_xds', 'Connected proxies.').set(3);
  const h = m.histogram('pilot_xds_push_time', 'Push time in seconds.', [0.01, 0.1]);
  h.observe(0.005);
  h.observe(0.05);
  h.observe(1);
  m.gauge('odd', 'Escaping.').set(1, { proxy: 'a"b\\c' });
  assert.equal(
    m.render(),
    [
      '# HELP pilot_xds_pushes Pushes by type.',
      '# TYPE pilot_xds_pushes counter',
      'pilot_xds_pushes{type="cds"} 3',
      '# HELP pilot_xds Connected proxies.',
      '# TYPE pilot_xds gauge',
      'pilot_xds 3',
      '# HELP pilot_xds_push_time Push time in seconds.',
      '# TYPE pilot_xds_push_time histogram',
      'pilot_xds_push_time_bucket{le="0.01"} 1',
      'pilot_xds_push_time_bucket{le="0.1"} 2',
      'pilot_xds_push_time_bucket{le="+Inf"} 3',
      'pilot_xds_push_time_sum 1.055',
      'pilot_xds_push_time_count 3',
      '# HELP odd Escaping.',
      '# TYPE odd gauge',
      'odd{proxy="a\\"b\\\\c"} 1',
      '',
    ].join('\n'),
  );
});
