// Outlier detection per service from the proxies' real Envoy stats (the cluster stats families, rendered
// and parsed as a scrape is): ejections in force, ejections and overflows over the window, per service.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterStatsFamilies } from '../telemetry/metrics/cluster-stats.ts';
import { MetricsRegistry } from '../telemetry/metrics/registry.ts';
import { parseExposition } from './exposition.ts';
import { countOutliers, outlierFamilies, outliersOver, serviceHostOf, type TargetOutliers } from './outlier-counters.ts';

const STABLE = 'outbound|9898|stable|podinfo.podinfo.svc.cluster.local';
const CANARY = 'outbound|9898|canary|podinfo.podinfo.svc.cluster.local';

/** One proxy's cluster stats; `scraped()` is what the dashboard keeps of its `/stats/prometheus`. */
class ProxyStats {
  registry = new MetricsRegistry();
  #families = new ClusterStatsFamilies(this.registry);
  stable = this.#families.bind(STABLE).outlier;
  canary = this.#families.bind(CANARY).outlier;
  inbound = this.#families.bind('inbound|9898||').outlier;
  scraped(): TargetOutliers {
    return countOutliers(parseExposition(this.registry.renderPrometheus(), (n) => outlierFamilies.includes(n)));
  }
}

test('outbound clusters name their service host; inbound and passthrough name none', () => {
  assert.equal(serviceHostOf(STABLE), 'podinfo.podinfo.svc.cluster.local');
  assert.equal(serviceHostOf('outbound|9898||podinfo.podinfo.svc.cluster.local'), 'podinfo.podinfo.svc.cluster.local');
  assert.equal(serviceHostOf('inbound|9898||'), undefined);
  assert.equal(serviceHostOf('PassthroughCluster'), undefined);
});

test('per service: subsets add up, callers add up, the active gauge from the last scrape, counters as increases', () => {
  const gateway = new ProxyStats();
  const runner = new ProxyStats();
  const before = new Map([
    ['gateway', gateway.scraped()],
    ['runner', runner.scraped()],
  ]);
  // The gateway ejects a stable pod and a canary pod; the test runner ejects the same stable pod.
  gateway.stable.ejections_enforced_total.inc();
  gateway.stable.ejections_active.set(1);
  gateway.canary.ejections_enforced_total.inc();
  gateway.canary.ejections_active.set(1);
  runner.stable.ejections_enforced_total.inc();
  runner.stable.ejections_active.set(1);
  gateway.inbound.ejections_active.set(1);
  const during = new Map([
    ['gateway', gateway.scraped()],
    ['runner', runner.scraped()],
  ]);
  // The canary returns in the gateway.
  gateway.canary.ejections_active.set(0);
  const after = new Map([
    ['gateway', gateway.scraped()],
    ['runner', runner.scraped()],
  ]);
  assert.deepEqual(Object.fromEntries(outliersOver([before, during, after])), { 'podinfo.podinfo.svc.cluster.local': { ejectionsActive: 2, ejections: 3, overflows: 0 } });
});

test("the seed as shipped (one pod per subset, 50 % cap): a sick pod is never ejected, only counted as an overflow", () => {
  const gateway = new ProxyStats();
  const first = new Map([['gateway', gateway.scraped()]]);
  gateway.stable.ejections_detected_consecutive_5xx.inc();
  gateway.stable.ejections_overflow.inc();
  const second = new Map([['gateway', gateway.scraped()]]);
  assert.deepEqual(Object.fromEntries(outliersOver([first, second])), { 'podinfo.podinfo.svc.cluster.local': { ejectionsActive: 0, ejections: 0, overflows: 1 } });
});

test('a proxy that restarted (its counters back to zero) counts what it did since, not a negative', () => {
  const old = new ProxyStats();
  for (let i = 0; i < 4; i++) old.stable.ejections_enforced_total.inc();
  const restarted = new ProxyStats();
  restarted.stable.ejections_enforced_total.inc();
  const out = outliersOver([new Map([['gateway', old.scraped()]]), new Map([['gateway', restarted.scraped()]])]);
  assert.equal(out.get('podinfo.podinfo.svc.cluster.local')?.ejections, 1);
});
