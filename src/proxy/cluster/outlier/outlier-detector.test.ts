// Outlier detection asserted by counts on a manual clock: thresholds, ejection times, the cap, and the
// load balancer giving an ejected host zero picks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildLoadBalancer } from '../lb/build-load-balancer.ts';
import type { LbHost } from '../lb/load-balancer.ts';
import { LbError } from '../lb/load-balancer.ts';
import { compileOutlierDetection, type OutlierDetectionJson } from './outlier-config.ts';
import { type OutlierEvent, OutlierDetector } from './outlier-detector.ts';

const sec = (s: number) => ({ seconds: String(s) });
/** The seed's DestinationRule as Istio translates it: 5 errors, 30 s interval and ejection, 50%. */
const seed: OutlierDetectionJson = {
  consecutive_5xx: { value: 5 },
  enforcing_consecutive_5xx: { value: 100 },
  enforcing_success_rate: { value: 0 },
  interval: sec(30),
  base_ejection_time: sec(30),
  max_ejection_percent: { value: 50 },
};

function setup(json: OutlierDetectionJson, n: number) {
  const clock = { now: 0 };
  const events: OutlierEvent[] = [];
  const keys = Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}:80`);
  const od = new OutlierDetector(compileOutlierDetection(json), keys, { now: () => clock.now, random: () => 0.5, onEvent: (e) => events.push(e) });
  const fail = (host: string, times: number, outcome: number | 'connect-failed' | 'timeout' | 'reset' = 503) => {
    for (let i = 0; i < times; i++) od.onResult(host, outcome);
  };
  return { clock, events, keys, od, fail };
}

test('ejects on exactly the 5th consecutive 5xx; a success in between resets the count', () => {
  const { od, fail } = setup(seed, 4);
  fail('10.0.0.1:80', 4, 500);
  assert.equal(od.isEjected('10.0.0.1:80'), false);
  od.onResult('10.0.0.1:80', 200);
  fail('10.0.0.1:80', 4, 500);
  assert.equal(od.isEjected('10.0.0.1:80'), false);
  fail('10.0.0.1:80', 1, 500);
  assert.equal(od.isEjected('10.0.0.1:80'), true);
  assert.equal(od.stats.ejections_active, 1);
  assert.equal(od.stats.ejections_enforced_consecutive_5xx, 1);
  assert.equal(od.stats.ejections_enforced_total, 1);
});

test('an ejected endpoint gets zero picks during its ejection, then traffic again', () => {
  const { od, fail, clock, keys } = setup(seed, 4);
  const hosts: LbHost[] = keys.map((key) => ({ key, weight: 1, healthy: true, active: 0 }));
  const lb = buildLoadBalancer({ lb_policy: 'LEAST_REQUEST', common_lb_config: { healthy_panic_threshold: { value: 0 } } }, hosts, { random: Math.random, now: () => clock.now, health: od });
  fail('10.0.0.3:80', 5);
  const picks = (n: number) => Array.from({ length: n }, () => lb.pick()!.key).filter((k) => k === '10.0.0.3:80').length;
  for (const t of [0, 10, 20, 29.999]) {
    clock.now = t * 1000;
    od.onInterval();
    assert.equal(picks(400), 0, `at ${t} s`);
  }
  clock.now = 30_000;
  od.onInterval();
  assert.equal(od.isEjected('10.0.0.3:80'), false);
  assert.ok(picks(400) > 50);
});

test('the ejection time doubles on the second ejection and is capped at max_ejection_time', () => {
  const { od, fail, clock, events } = setup({ ...seed, interval: sec(10), max_ejection_time: sec(70) }, 4);
  const h = '10.0.0.1:80';
  const ejectFor = () => {
    const start = clock.now;
    fail(h, 5);
    assert.equal(od.isEjected(h), true);
    while (od.isEjected(h)) {
      clock.now += 10_000;
      od.onInterval();
    }
    return (clock.now - start) / 1000;
  };
  assert.equal(ejectFor(), 30);
  assert.equal(ejectFor(), 60);
  assert.equal(ejectFor(), 70, 'three times 30 s, capped at 70 s');
  assert.deepEqual(
    events.filter((e) => e.action === 'eject').map((e) => e.ejectionMs),
    [30_000, 60_000, 70_000],
  );
});

test('clean intervals decay the backoff: after a quiet spell the ejection is base time again', () => {
  const { od, fail, clock } = setup({ ...seed, interval: sec(10) }, 4);
  const h = '10.0.0.1:80';
  fail(h, 5);
  clock.now = 30_000;
  od.onInterval();
  fail(h, 5);
  assert.equal(od.hostState(h)?.backoff, 2);
  clock.now = 90_000;
  od.onInterval();
  assert.equal(od.isEjected(h), false);
  for (let i = 0; i < 2; i++) {
    clock.now += 10_000;
    od.onInterval();
  }
  assert.equal(od.hostState(h)?.backoff, 0);
  fail(h, 5);
  assert.equal(od.hostState(h)?.backoff, 1);
});

test('at most max_ejection_percent ejected: 50% of 4 hosts is 2, the third overflows', () => {
  const { od, fail } = setup(seed, 4);
  // 500, not 503: a 503 also completes Envoy's gateway-failure detection, which checks the cap too.
  for (const h of ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']) fail(h, 5, 500);
  assert.equal(od.stats.ejections_active, 2);
  assert.equal(od.stats.ejections_overflow, 1);
  assert.equal(od.isEjected('10.0.0.3:80'), false);
  assert.equal(od.stats.ejections_detected_consecutive_5xx, 3);
});

test('Envoy counts the ejection about to happen: 10% of 9 hosts ejects nobody unless always_eject_one_host', () => {
  const strict = setup({ consecutive_5xx: { value: 5 } }, 9);
  strict.fail('10.0.0.1:80', 5, 500);
  assert.equal(strict.od.stats.ejections_active, 0);
  assert.equal(strict.od.stats.ejections_overflow, 1);
  const one = setup({ consecutive_5xx: { value: 5 }, always_eject_one_host: { value: true } }, 9);
  one.fail('10.0.0.1:80', 5);
  one.fail('10.0.0.2:80', 5);
  assert.equal(one.od.stats.ejections_active, 1);
  const ten = setup({ consecutive_5xx: { value: 5 } }, 10);
  ten.fail('10.0.0.1:80', 5);
  assert.equal(ten.od.stats.ejections_active, 1);
});

test('gateway errors: detected but not enforced by default; enforced when Istio sets consecutiveGatewayErrors', () => {
  const dflt = setup({ consecutive_5xx: { value: 0 }, enforcing_consecutive_5xx: { value: 0 }, max_ejection_percent: { value: 100 } }, 2);
  dflt.fail('10.0.0.1:80', 5, 502);
  assert.equal(dflt.od.stats.ejections_detected_consecutive_gateway_failure, 1);
  assert.equal(dflt.od.isEjected('10.0.0.1:80'), false);
  const istio = setup({ consecutive_5xx: { value: 0 }, consecutive_gateway_failure: { value: 3 }, enforcing_consecutive_gateway_failure: { value: 100 }, max_ejection_percent: { value: 100 } }, 2);
  istio.fail('10.0.0.1:80', 2, 504);
  istio.fail('10.0.0.1:80', 1, 500); // not a gateway error: that count restarts
  istio.fail('10.0.0.1:80', 2, 503);
  assert.equal(istio.od.isEjected('10.0.0.1:80'), false);
  istio.fail('10.0.0.1:80', 1, 502);
  assert.equal(istio.od.isEjected('10.0.0.1:80'), true);
  assert.equal(istio.od.stats.ejections_enforced_consecutive_gateway_failure, 1);
});

test('local-origin failures: as 503/504 without the split; their own counter with it', () => {
  const merged = setup({ ...seed, max_ejection_percent: { value: 100 } }, 2);
  merged.fail('10.0.0.1:80', 3, 'connect-failed');
  merged.fail('10.0.0.1:80', 2, 'timeout');
  assert.equal(merged.od.isEjected('10.0.0.1:80'), true);
  const split = setup({ ...seed, max_ejection_percent: { value: 100 }, split_external_local_origin_errors: true, consecutive_local_origin_failure: { value: 3 } }, 2);
  split.fail('10.0.0.1:80', 4, 503);
  split.fail('10.0.0.1:80', 2, 'reset');
  split.od.onResult('10.0.0.1:80', 'connect-success');
  split.fail('10.0.0.1:80', 2, 'connect-failed');
  assert.equal(split.od.isEjected('10.0.0.1:80'), false, 'local failures do not count as 5xx, a connect success resets them');
  split.fail('10.0.0.1:80', 1, 'timeout');
  assert.equal(split.od.stats.ejections_enforced_consecutive_local_origin_failure, 1);
});

test('success rate: an outlier is detected; with Istio enforcing_success_rate 0 it is not ejected', () => {
  for (const [enforcing, ejected] of [[0, false], [100, true]] as const) {
    const { od } = setup({ ...seed, enforcing_success_rate: { value: enforcing }, consecutive_5xx: { value: 0 } }, 6);
    for (let h = 1; h <= 6; h++) {
      for (let i = 0; i < 100; i++) od.onResult(`10.0.0.${h}:80`, h === 6 && i % 2 === 0 ? 500 : 200);
    }
    od.onInterval();
    assert.equal(od.stats.ejections_detected_success_rate, 1);
    assert.equal(od.isEjected('10.0.0.6:80'), ejected);
  }
});

test('a removed ejected host frees its slot; the detector arms its interval on injected timers', () => {
  const { od, fail, keys } = setup(seed, 2);
  fail(keys[0]!, 5);
  assert.equal(od.stats.ejections_active, 1);
  od.update([keys[1]!, '10.0.0.9:80']);
  assert.equal(od.stats.ejections_active, 0);
  const armed: { fn: () => void; ms: number }[] = [];
  od.start({ set: (fn, ms) => armed.push({ fn, ms }), clear: () => {} });
  assert.equal(armed[0]?.ms, 30_000);
  armed[0]!.fn();
  assert.equal(armed.length, 2, 're-armed after the tick');
  od.stop();
});

test('outlier config: Envoy defaults and located errors', () => {
  const c = compileOutlierDetection({});
  assert.equal(c.consecutive5xx, 5);
  assert.equal(c.intervalMs, 10_000);
  assert.equal(c.baseEjectionTimeMs, 30_000);
  assert.equal(c.maxEjectionTimeMs, 300_000);
  assert.equal(c.maxEjectionPercent, 10);
  assert.equal(c.enforcing.consecutive_gateway_failure, 0);
  assert.equal(compileOutlierDetection({ base_ejection_time: sec(600) }).maxEjectionTimeMs, 600_000);
  assert.throws(
    () => compileOutlierDetection({ enforcing_consecutive_5xx: { value: 101 }, interval: { seconds: '0' } }, 'Cluster x.outlier_detection'),
    (e: unknown) => e instanceof LbError && e.code === 'OUTLIER_CONFIG' && /enforcing_consecutive_5xx/.test(e.message) && /interval/.test(e.message),
  );
});
