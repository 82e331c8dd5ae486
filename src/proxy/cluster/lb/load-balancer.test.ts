// Load balancer behaviour asserted by counts, with a seeded random and a manual clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildLoadBalancer, type LbClusterJson } from './build-load-balancer.ts';
import type { HostHealth, LbHost } from './load-balancer.ts';
import { LbError } from './load-balancer.ts';

/** mulberry32: a small seeded PRNG so distributions are reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hosts(n: number, extra: Partial<LbHost> = {}): LbHost[] {
  return Array.from({ length: n }, (_, i) => ({ key: `10.0.0.${i + 1}:80`, weight: 1, healthy: true, active: 0, ...extra }));
}

class Ejections implements HostHealth {
  generation = 0;
  #set = new Set<string>();
  isEjected(key: string): boolean {
    return this.#set.has(key);
  }
  eject(key: string): void {
    this.#set.add(key);
    this.generation++;
  }
}

function count(pick: () => LbHost | null, n: number): Map<string, number> {
  const out = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const h = pick();
    const k = h?.key ?? 'none';
    out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}

const deps = (seed = 1, now = () => 0) => ({ random: seeded(seed), now });

test('ROUND_ROBIN rotates evenly and weighted round robin is smooth and exact', () => {
  const even = buildLoadBalancer({ lb_policy: 'ROUND_ROBIN' }, hosts(3), deps());
  assert.deepEqual([...count(() => even.pick(), 300).values()], [100, 100, 100]);
  const hs = hosts(3);
  const weighted = [{ ...hs[0]!, weight: 5 }, hs[1]!, hs[2]!];
  const lb = buildLoadBalancer({ lb_policy: 'ROUND_ROBIN' }, weighted, deps());
  const seq = Array.from({ length: 70 }, () => lb.pick()!.key);
  const c = count(() => null, 0);
  for (const k of seq) c.set(k, (c.get(k) ?? 0) + 1);
  assert.equal(c.get('10.0.0.1:80'), 50);
  assert.equal(c.get('10.0.0.2:80'), 10);
  // Smooth, as nginx: every cycle of seven reads A A B A C A A.
  const letters = seq.map((k) => 'ABC'[Number(k.split('.')[3]!.split(':')[0]) - 1]).join('');
  assert.equal(letters.slice(0, 14), 'AABACAAAABACAA');
});

test('LEAST_REQUEST P2C prefers idle hosts and spreads evenly when all are idle', () => {
  const hs = hosts(4);
  const lb = buildLoadBalancer({ lb_policy: 'LEAST_REQUEST' }, hs, deps(7));
  const idle = count(() => lb.pick(), 4000);
  for (const v of idle.values()) assert.ok(v > 850 && v < 1150, `even spread, got ${v}`);
  // One host busy: it wins only when both samples land on it, (1/4)^2 = 6.25%.
  hs[0]!.active = 10;
  const busy = count(() => lb.pick(), 4000).get('10.0.0.1:80') ?? 0;
  assert.ok(busy > 150 && busy < 350, `busy host picked ${busy} of 4000`);
});

test('LEAST_REQUEST weighted uses weight / (active + 1)', () => {
  const hs = hosts(2);
  const both = [{ ...hs[0]!, weight: 2 }, hs[1]!];
  const lb = buildLoadBalancer({ lb_policy: 'LEAST_REQUEST' }, both, deps());
  const c = count(() => lb.pick(), 300);
  assert.equal(c.get('10.0.0.1:80'), 200);
  both[0]!.active = 3; // 2/4 = 0.5 against 1/1: now the light host takes two picks in three
  const d = count(() => lb.pick(), 300);
  assert.ok((d.get('10.0.0.2:80') ?? 0) > (d.get('10.0.0.1:80') ?? 0));
});

test('an ejected host gets zero picks while ejected, for every policy', () => {
  for (const lb_policy of ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH', 'MAGLEV']) {
    const health = new Ejections();
    const lb = buildLoadBalancer({ lb_policy, common_lb_config: { healthy_panic_threshold: { value: 0 } } }, hosts(4), { ...deps(3), health });
    health.eject('10.0.0.2:80');
    const c = count(() => lb.pick(), 2000);
    assert.equal(c.get('10.0.0.2:80') ?? 0, 0, lb_policy);
    assert.equal(c.get('none') ?? 0, 0, lb_policy);
  }
});

test('panic: below 50% healthy, traffic spreads over all hosts; threshold 0 never panics', () => {
  const hs = hosts(10).map((h, i) => ({ ...h, healthy: i < 4 }));
  const lb = buildLoadBalancer({ lb_policy: 'ROUND_ROBIN' }, hs, deps());
  const c = count(() => lb.pick(), 1000);
  assert.equal(c.size, 10);
  assert.equal(lb.stats.lb_healthy_panic, 1000);
  const five = hosts(10).map((h, i) => ({ ...h, healthy: i < 5 }));
  const calm = buildLoadBalancer({ lb_policy: 'ROUND_ROBIN' }, five, deps());
  assert.equal(count(() => calm.pick(), 1000).size, 5);
  const never = buildLoadBalancer({ lb_policy: 'ROUND_ROBIN', common_lb_config: { healthy_panic_threshold: { value: 0 } } }, hs, deps());
  assert.equal(count(() => never.pick(), 1000).size, 4);
  const none = buildLoadBalancer({ lb_policy: 'ROUND_ROBIN', common_lb_config: { healthy_panic_threshold: { value: 0 } } }, hosts(2, { healthy: false }), deps());
  assert.equal(none.pick(), null);
  assert.equal(none.stats.upstream_cx_none_healthy, 1);
});

test('RING_HASH keeps a key on one host and moves about 1/n keys when a host is added', () => {
  const four = hosts(4);
  const lb = buildLoadBalancer({ lb_policy: 'RING_HASH' }, four, deps());
  const keys = Array.from({ length: 4000 }, (_, i) => (i * 2654435761) >>> 0);
  const before = keys.map((hash) => lb.pick({ hash })!.key);
  assert.deepEqual(keys.map((hash) => lb.pick({ hash })!.key), before, 'same key, same host');
  lb.update(hosts(5));
  const after = keys.map((hash) => lb.pick({ hash })!.key);
  let moved = 0;
  let toNew = 0;
  after.forEach((k, i) => {
    if (k !== before[i]) moved++;
    if (k !== before[i] && k === '10.0.0.5:80') toNew++;
  });
  // 1/5 of 4000 is 800. The ring stays near 1024 entries, so old hosts give up some entries too
  // (256 → 205 each, as in Envoy), so some keys also move between old hosts.
  // Rehashing modulo n would move 4/5 of the keys (3200).
  assert.ok(toNew > 650 && toNew < 950, `${toNew} moved to the new host`);
  assert.ok(moved < 1400, `moved ${moved} in all`);
});

test('MAGLEV spreads keys evenly, keeps them, and moves few when a host is added', () => {
  const lb = buildLoadBalancer({ lb_policy: 'MAGLEV' }, hosts(4), deps());
  const keys = Array.from({ length: 4000 }, (_, i) => i);
  const before = keys.map((hash) => lb.pick({ hash })!.key);
  const c = count(() => null, 0);
  for (const k of before) c.set(k, (c.get(k) ?? 0) + 1);
  for (const v of c.values()) assert.ok(v > 850 && v < 1150, `share ${v}`);
  lb.update(hosts(5));
  const moved = keys.filter((hash, i) => lb.pick({ hash })!.key !== before[i]).length;
  assert.ok(moved > 600 && moved < 1200, `moved ${moved}`);
});

test('the retry predicate moves a retry off hosts already tried', () => {
  for (const lb_policy of ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH', 'MAGLEV']) {
    const lb = buildLoadBalancer({ lb_policy }, hosts(3), deps(5));
    let same = 0;
    for (let i = 0; i < 500; i++) {
      const first = lb.pick({ hash: i })!;
      if (lb.pick({ hash: i, attempted: new Set([first.key]) })!.key === first.key) same++;
    }
    // Rotation and the ring always move on; sampled policies get 5 selections (Istio's setting) and may
    // still land on it, (1/3)^4 of the time.
    const bound = lb_policy === 'ROUND_ROBIN' || lb_policy === 'RING_HASH' ? 0 : 20;
    assert.ok(same <= bound, `${lb_policy}: ${same} of 500 retries went back to the same host`);
  }
});

test('priorities: P1 takes traffic only as P0 health drops', () => {
  const p0 = hosts(2).map((h) => ({ ...h, priority: 0 }));
  const p1 = [{ key: '10.0.1.1:80', weight: 1, healthy: true, active: 0, priority: 1 }];
  const health = new Ejections();
  const lb = buildLoadBalancer({ lb_policy: 'ROUND_ROBIN', common_lb_config: { healthy_panic_threshold: { value: 0 } } }, [...p0, ...p1], { ...deps(11), health });
  assert.equal(count(() => lb.pick(), 1000).get('10.0.1.1:80') ?? 0, 0);
  health.eject('10.0.0.1:80'); // P0 health 70: 30% of traffic fails over
  const c = count(() => lb.pick(), 10_000).get('10.0.1.1:80') ?? 0;
  assert.ok(c > 2700 && c < 3300, `P1 took ${c}`);
});

test('locality weighted: traffic follows locality weights within a priority', () => {
  const a = hosts(2).map((h) => ({ ...h, locality: 'r/a', localityWeight: 80 }));
  const b = [{ key: '10.0.2.1:80', weight: 1, healthy: true, active: 0, locality: 'r/b', localityWeight: 20 }];
  const lb = buildLoadBalancer({ lb_policy: 'ROUND_ROBIN', common_lb_config: { locality_weighted_lb_config: {} } }, [...a, ...b], deps());
  assert.equal(count(() => lb.pick(), 1000).get('10.0.2.1:80'), 200);
});

test('slow start ramps a new host from 10% toward its full weight', () => {
  let now = 0;
  const cluster: LbClusterJson = { lb_policy: 'ROUND_ROBIN', round_robin_lb_config: { slow_start_config: { slow_start_window: { seconds: '60' } } } };
  const old = hosts(1);
  const lb = buildLoadBalancer(cluster, old, deps(1, () => now));
  now = 120_000;
  const fresh = { key: '10.0.0.9:80', weight: 1, healthy: true, active: 0 };
  lb.update([...old, fresh]);
  const early = count(() => lb.pick(), 1100).get(fresh.key) ?? 0;
  assert.ok(early >= 95 && early <= 105, `at 0 s the new host runs at 10%: ${early}`);
  now += 30_000;
  lb.update([...old, fresh]);
  const half = count(() => lb.pick(), 1500).get(fresh.key) ?? 0;
  assert.ok(half >= 480 && half <= 520, `at 30 s of 60 it runs at 50%: ${half}`);
  now += 30_000;
  lb.update([...old, fresh]);
  assert.equal(count(() => lb.pick(), 1000).get(fresh.key), 500);
});

test('PASSTHROUGH picks the original destination; bad config is an LbError', () => {
  const lb = buildLoadBalancer({ type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' }, [], {
    ...deps(),
    originalHost: (address, port) => ({ key: `${address}:${port}`, weight: 1, healthy: true, active: 0 }),
  });
  assert.equal(lb.pick({ originalDestination: { address: '10.1.2.3', port: 8080 } })?.key, '10.1.2.3:8080');
  assert.equal(lb.pick(), null);
  const bad = (c: LbClusterJson) => assert.throws(() => buildLoadBalancer(c, [], deps()), (e: unknown) => e instanceof LbError && e.code === 'LB_CONFIG');
  bad({ lb_policy: 'MAGLEV', maglev_lb_config: { table_size: { value: 65536 } } });
  bad({ lb_policy: 'LEAST_REQUEST', least_request_lb_config: { choice_count: { value: 1 } } });
  bad({ lb_policy: 'WEIGHTED_MAGIC' });
  bad({ lb_policy: 'CLUSTER_PROVIDED' });
});

test("RING_HASH and MAGLEV with locality weights: a partly unhealthy locality keeps its raw share (Envoy's normalizeLocalityWeights)", () => {
  // r/a: four hosts, two healthy; r/b: one. Both localities weigh 1. Envoy folds the raw locality weights
  // into host weights (no 1.4 × healthy / hosts): a1 and a2 a quarter of the keys each, b1 half.
  const at = (key: string, locality: string, healthy: boolean): LbHost => ({ key, weight: 1, healthy, active: 0, priority: 0, locality, localityWeight: 1 });
  const five = [at('a1:1', 'r/a', true), at('a2:1', 'r/a', true), at('a3:1', 'r/a', false), at('a4:1', 'r/a', false), at('b1:1', 'r/b', true)];
  const seededHash = seeded(99);
  for (const lb_policy of ['RING_HASH', 'MAGLEV']) {
    const lb = buildLoadBalancer({ lb_policy, common_lb_config: { healthy_panic_threshold: { value: 50 }, locality_weighted_lb_config: {} } }, five, deps());
    const b = count(() => lb.pick({ hash: Math.floor(seededHash() * 0x1_0000_0000) }), 20_000).get('b1:1') ?? 0;
    assert.ok(Math.abs(b / 20_000 - 0.5) < 0.04, `${lb_policy}: b1 took ${b / 20_000} of the keys`);
  }
  // In panic (below 50 % healthy) every host takes keys, still by locality: r/b's one host keeps half.
  const panicked = [at('a1:1', 'r/a', true), at('a2:1', 'r/a', false), at('a3:1', 'r/a', false), at('a4:1', 'r/a', false), at('b1:1', 'r/b', false)];
  const lb = buildLoadBalancer({ lb_policy: 'RING_HASH', common_lb_config: { locality_weighted_lb_config: {} } }, panicked, deps());
  const b = count(() => lb.pick({ hash: Math.floor(seededHash() * 0x1_0000_0000) }), 20_000).get('b1:1') ?? 0;
  assert.ok(Math.abs(b / 20_000 - 0.5) < 0.04, `in panic b1 took ${b / 20_000} of the keys`);
});

test('RING_HASH minimum_ring_size 0 is accepted as Envoy accepts it: an empty ring picks no host', () => {
  const lb = buildLoadBalancer({ lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: { value: 0 } } }, hosts(3), deps());
  assert.equal(lb.pick({ hash: 12345 }), null);
  assert.equal(lb.stats.upstream_cx_none_healthy, 1);
  const bad = (c: LbClusterJson) => assert.throws(() => buildLoadBalancer(c, [], deps()), (e: unknown) => e instanceof LbError && e.code === 'LB_CONFIG');
  bad({ lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: { value: 2048 }, maximum_ring_size: { value: 1024 } } });
  bad({ lb_policy: 'RING_HASH', ring_hash_lb_config: { maximum_ring_size: { value: 8 * 1024 * 1024 + 1 } } });
});
