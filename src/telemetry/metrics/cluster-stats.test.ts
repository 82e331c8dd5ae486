// Cluster stats are made on first use, yet every bound cluster shows every stat, at zero until counted,
// in /stats and /stats/prometheus, in the order the clusters were bound.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterStatsFamilies } from './cluster-stats.ts';
import { MetricsRegistry } from './registry.ts';

const rows = (text: string, cluster: string) => text.split('\n').filter((l) => l.includes(`"${cluster}"`) || l.startsWith(`cluster.${cluster}.`));

test('an unused cluster shows all 35 stats at zero, in both formats', () => {
  const registry = new MetricsRegistry();
  new ClusterStatsFamilies(registry).bind('outbound|80||a.example.com');
  const prom = rows(registry.renderPrometheus(), 'outbound|80||a.example.com');
  const stats = rows(registry.renderStats(), 'outbound|80||a.example.com');
  assert.equal(prom.length, 35);
  assert.equal(stats.length, 35);
  assert.ok(prom.every((l) => l.endsWith(' 0')));
  assert.ok(stats.every((l) => l.endsWith(': 0')));
  assert.ok(prom.includes('envoy_cluster_upstream_rq_total{cluster_name="outbound|80||a.example.com"} 0'));
  assert.ok(stats.includes('cluster.outbound|80||a.example.com.outlier_detection.ejections_active: 0'));
});

test('counted stats show their values; the outlier stats are on the same record', () => {
  const registry = new MetricsRegistry();
  const s = new ClusterStatsFamilies(registry).bind('c');
  s.upstream_rq_total.inc();
  s.upstream_rq_total.inc(2);
  s.upstream_rq_pending_active.inc();
  s.upstream_rq_pending_active.dec();
  s.membership_healthy.set(3);
  s.outlier.ejections_enforced_consecutive_5xx.inc();
  s.outlier.ejections_active.set(1);
  const prom = registry.renderPrometheus();
  assert.match(prom, /^envoy_cluster_upstream_rq_total\{cluster_name="c"\} 3$/m);
  assert.match(prom, /^envoy_cluster_upstream_rq_pending_active\{cluster_name="c"\} 0$/m);
  assert.match(prom, /^envoy_cluster_membership_healthy\{cluster_name="c"\} 3$/m);
  assert.match(prom, /^envoy_cluster_outlier_detection_ejections_enforced_consecutive_5xx\{cluster_name="c"\} 1$/m);
  assert.match(registry.renderStats(), /^cluster\.c\.outlier_detection\.ejections_active: 1$/m);
  assert.equal(s.upstream_rq_total.value, 3);
});

test('binding a name again gives the same stats; a removed cluster leaves, and comes back last and at zero', () => {
  const registry = new MetricsRegistry();
  const families = new ClusterStatsFamilies(registry);
  const a = families.bind('a');
  families.bind('b');
  assert.equal(families.bind('a').upstream_cx_total, a.upstream_cx_total);
  a.upstream_cx_total.inc();
  families.remove('a');
  const order = () => [...registry.renderPrometheus().matchAll(/^envoy_cluster_upstream_cx_total\{cluster_name="(\w)"\} (\d+)$/gm)].map((m) => `${m[1]}=${m[2]}`);
  assert.deepEqual(order(), ['b=0']);
  families.bind('a');
  assert.deepEqual(order(), ['b=0', 'a=0']);
});

test('families keep the order and headers they had as separate registered families', () => {
  const registry = new MetricsRegistry();
  new ClusterStatsFamilies(registry);
  const prom = registry.renderPrometheus();
  const types = [...prom.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
  assert.equal(types.length, 35);
  assert.equal(types[0], 'envoy_cluster_upstream_rq_total counter');
  assert.equal(types[19], 'envoy_cluster_upstream_cx_active gauge');
  assert.equal(types[34], 'envoy_cluster_outlier_detection_ejections_active gauge');
  assert.match(prom, /^# HELP envoy_cluster_outlier_detection_ejections_overflow Envoy cluster outlier_detection\.ejections_overflow$/m);
  assert.throws(() => registry.counter('envoy_cluster_upstream_rq_total', 'again'), { code: 'METRIC_DUPLICATE' });
});
