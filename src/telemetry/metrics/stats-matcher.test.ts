// The stats matcher as Envoy applies Istio's inclusion list: Istio's own inclusions plus the user's,
// regexes on the whole name; stats it drops are neither kept nor listed, per cluster and per family.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterStatsFamilies } from './cluster-stats.ts';
import { MetricsRegistry } from './registry.ts';
import { RE2JS } from 're2js';
import { compileStatsMatcher, StatsMatcherError } from './stats-matcher.ts';

test('Istio inclusions plus the user prefixes, suffixes and whole-name regexes', () => {
  const m = compileStatsMatcher({ inclusionPrefixes: ['cluster.outbound|9898|'], inclusionSuffixes: ['.upstream_cx_total'], inclusionRegexps: ['.*outlier_detection.*'] });
  const table: [string, boolean][] = [
    ['server.live', true],
    ['cluster_manager.active_clusters', true],
    ['listener_manager.total_listeners_active', true],
    ['cluster.xds-grpc.upstream_rq_total', true],
    ['tcp.rbac.denied', true],
    ['tcp.rbac.istio_dry_run_allow_shadow_allowed', true],
    ['cluster.outbound|9898||podinfo.podinfo.svc.cluster.local.upstream_rq_total', true],
    ['cluster.outbound|80||a.example.com.upstream_cx_total', true],
    ['cluster.outbound|80||a.example.com.outlier_detection.ejections_active', true],
    ['cluster.outbound|80||a.example.com.upstream_rq_total', false],
    // Whole-name match, as Envoy's safe_regex: `outlier_detection` alone does not match a longer name.
    ['http2.too_many_premature_resets', false],
  ];
  for (const [name, kept] of table) assert.equal(m.includes(name), kept, name);
  assert.equal(compileStatsMatcher({ inclusionRegexps: ['outlier_detection'] }).includes('cluster.a.outlier_detection.ejections_active'), false);
  assert.match(String(m), /^inclusion_list\(prefix reporter=, .*safe_regex \.\*outlier_detection\.\*\)$/);
});

test('a pattern Envoy would refuse is an error naming its field', () => {
  assert.throws(() => compileStatsMatcher({ inclusionRegexps: ['.*ok.*', 'cluster\\.(outbound'] }), (err: unknown) => err instanceof StatsMatcherError && err.field === 'inclusionRegexps[1]' && /not an RE2 regex/.test(err.message));
  assert.throws(() => compileStatsMatcher({ inclusionPrefixes: ['cluster.outbound', ''] }), (err: unknown) => err instanceof StatsMatcherError && err.field === 'inclusionPrefixes[1]');
});

test('a cluster the matcher keeps nothing of has no rows; one it keeps part of lists only that part', () => {
  const registry = new MetricsRegistry({ statsMatcher: compileStatsMatcher({ inclusionRegexps: ['cluster\\.keep\\..*', 'cluster\\.some\\.upstream_rq_pending_overflow'] }) });
  const families = new ClusterStatsFamilies(registry);
  const keep = families.bind('keep');
  const some = families.bind('some');
  const none = families.bind('drop');
  keep.upstream_rq_total.inc();
  some.upstream_rq_total.inc(5);
  some.upstream_rq_pending_overflow.inc(2);
  none.upstream_rq_total.inc();
  const prom = registry.renderPrometheus();
  assert.equal(prom.split('\n').filter((l) => l.includes('cluster_name="keep"')).length, 35);
  assert.deepEqual(
    prom.split('\n').filter((l) => l.includes('cluster_name="some"')),
    ['envoy_cluster_upstream_rq_pending_overflow{cluster_name="some"} 2'],
  );
  assert.ok(!prom.includes('"drop"'));
  assert.match(prom, /^envoy_cluster_upstream_rq_total\{cluster_name="keep"\} 1$/m);
  assert.deepEqual(
    registry.renderStats().split('\n').filter((l) => l.startsWith('cluster.some.') || l.startsWith('cluster.drop.')),
    ['cluster.some.upstream_rq_pending_overflow: 2'],
  );
});

test("a family's series the matcher drops is counted by its holder, never listed; stats without an Envoy name are not the matcher's", () => {
  const registry = new MetricsRegistry({ statsMatcher: compileStatsMatcher({ inclusionPrefixes: ['listener.10.0.0.1_'] }) });
  const ssl = registry.counter('envoy_listener_ssl_handshake', 'h', (l) => `listener.${l['a']}.ssl.handshake`);
  ssl.bind({ a: '10.0.0.1_15006' }).inc();
  const dropped = ssl.bind({ a: '0.0.0.0_8443' });
  dropped.inc();
  assert.equal(dropped.value, 1);
  registry.counter('istio_requests_total', 'r').bind({ reporter: 'source' }).inc();
  const prom = registry.renderPrometheus();
  assert.match(prom, /^envoy_listener_ssl_handshake\{a="10\.0\.0\.1_15006"\} 1$/m);
  assert.ok(!prom.includes('0.0.0.0_8443'));
  assert.match(prom, /^istio_requests_total\{reporter="source"\} 1$/m);
});

test('a regex answers as RE2 full match does, however it is compiled; a name split anywhere answers as joined', () => {
  const patterns = ['.*outlier_detection.*', 'cluster\\.outbound.*', '.*_rq_pending_overflow', 'http2\\.too_many_premature_resets', '.*', '.*(retry|timeout).*', 'cluster\\..*\\.upstream_cx_total', '.*\\|9898\\|.*'];
  const names = [
    'cluster.outbound|80||a.example.com.upstream_rq_pending_overflow',
    'cluster.inbound|9898||.outlier_detection.ejections_active',
    'cluster.outbound|9898||podinfo.upstream_rq_retry',
    'http2.too_many_premature_resets',
    'http2.too_many_premature_resets_x',
    'listener.10.0.0.1_15006.ssl.handshake',
    'cluster.a\nb.outlier_detection.ejections_active',
    'cluster.a.upstream_cx_total',
  ];
  for (const p of patterns) {
    const m = compileStatsMatcher({ inclusionRegexps: [p] });
    const re = RE2JS.compile(p);
    for (const n of names) assert.equal(m.includes(n), re.matches(n), `${p} on ${JSON.stringify(n)}`);
  }
  const m = compileStatsMatcher({ inclusionPrefixes: ['cluster.outbound|9898|'], inclusionSuffixes: ['ssl.handshake', 'rq_retry'] });
  for (const n of names) {
    for (let i = 0; i <= n.length; i++) assert.equal(m.includesJoined(n.slice(0, i), n.slice(i)), m.includes(n), `${JSON.stringify(n)} split at ${i}`);
  }
});
