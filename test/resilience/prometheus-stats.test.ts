// Resilience counters on a real proxy's /stats/prometheus, under Envoy's names: outlier ejections,
// retries (success and overflow) and pool overflows, driven through real sockets and scraped from the
// admin port. Every count is exact.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, hcm, listener, push, request, startProxy } from '../proxy/harness.ts';
import { FakeClock, until } from './fake-clock.ts';
import { FaultUpstream } from './fault-upstream.ts';

type Proxy = Awaited<ReturnType<typeof startProxy>>;

/** One sample of `envoy_cluster_<stat>{cluster_name="<cluster>"}` from /stats/prometheus. */
async function scrape(p: Proxy, clusterName: string, stat: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${p.admin}/stats/prometheus`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`envoy_cluster_${stat}{`) && l.includes(`cluster_name="${clusterName}"`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function scrapeAll(p: Proxy, clusterName: string, stats: string[]): Promise<Record<string, number | undefined>> {
  const out: Record<string, number | undefined> = {};
  for (const s of stats) out[s] = await scrape(p, clusterName, s);
  return out;
}

function routes(entries: { prefix: string; cluster: string; retry?: object }[]): TypedAny {
  return {
    '@type': TypeUrl.RouteConfiguration,
    name: 'http.8080',
    virtual_hosts: [
      {
        name: 'vh',
        domains: ['*'],
        routes: entries.map((e) => ({ name: e.prefix, match: { prefix: e.prefix }, route: { cluster: e.cluster, timeout: { seconds: '0' }, ...(e.retry ? { retry_policy: e.retry } : {}) } })),
      },
    ],
  };
}

const outlierStats = [
  'outlier_detection_ejections_active',
  'outlier_detection_ejections_enforced_total',
  'outlier_detection_ejections_enforced_consecutive_5xx',
  'outlier_detection_ejections_detected_consecutive_5xx',
  'outlier_detection_ejections_overflow',
];

test('/stats/prometheus: an ejection is active until the interval tick; enforced counters stay', async () => {
  const clock = new FakeClock();
  const good = new FaultUpstream();
  const bad = new FaultUpstream(() => ({ kind: 'status', status: 503 }));
  await good.listen();
  await bad.listen();
  const p = await startProxy({ timers: clock, random: () => 0 });
  try {
    push(p.proxy, [
      {
        ...cluster('c', { lb: 'ROUND_ROBIN' }),
        outlier_detection: { consecutive_5xx: { value: 3 }, interval: { seconds: '30' }, base_ejection_time: { seconds: '30' }, max_ejection_percent: { value: 50 } },
        common_lb_config: { healthy_panic_threshold: { value: 0 } },
      },
      cla('c', [{ port: good.port }, { port: bad.port }]),
      listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
      routes([{ prefix: '/', cluster: 'c' }]),
    ]);
    const port = await p.port('0.0.0.0_8080');
    for (let i = 0; i < 6; i++) await request(port, '/');
    assert.equal(bad.seen.length, 3);
    assert.deepEqual(await scrapeAll(p, 'c', outlierStats), {
      outlier_detection_ejections_active: 1,
      outlier_detection_ejections_enforced_total: 1,
      outlier_detection_ejections_enforced_consecutive_5xx: 1,
      outlier_detection_ejections_detected_consecutive_5xx: 1,
      outlier_detection_ejections_overflow: 0,
    });
    clock.advance(30_000);
    assert.equal(await scrape(p, 'c', 'outlier_detection_ejections_active'), 0);
    assert.equal(await scrape(p, 'c', 'outlier_detection_ejections_enforced_total'), 1);
  } finally {
    await p.close();
    await good.close();
    await bad.close();
  }
});

test('/stats/prometheus: upstream_rq_retry, upstream_rq_retry_success and upstream_rq_retry_overflow', async () => {
  const clock = new FakeClock();
  // Each path fails its first try with 503, then succeeds.
  const up = new FaultUpstream((_n, req) => (up.seen.some((s) => s.path === req.url) ? { kind: 'ok' } : { kind: 'status', status: 503 }));
  await up.listen();
  const p = await startProxy({ timers: clock, random: () => 0 });
  const retry = { retry_on: '5xx', num_retries: { value: 3 } };
  try {
    push(p.proxy, [
      { ...cluster('c', { lb: 'ROUND_ROBIN' }) },
      cla('c', [{ port: up.port }]),
      { ...cluster('tight', { lb: 'ROUND_ROBIN' }), circuit_breakers: { thresholds: [{ max_retries: { value: 0 } }] } },
      cla('tight', [{ port: up.port }]),
      listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
      routes([
        { prefix: '/tight', cluster: 'tight', retry },
        { prefix: '/', cluster: 'c', retry },
      ]),
    ]);
    const port = await p.port('0.0.0.0_8080');
    for (const path of ['/a', '/b']) {
      const answer = request(port, path);
      // The retry waits for its back-off on the fake clock: a timer due within the second, advanced to
      // below (the stream's idle timer, minutes away, is armed from the start and does not count). Only
      // to it: the retry's connection has its connect timeout on the same clock, and must have the I/O.
      const backoffArmed = () => clock.nextDue !== undefined && clock.nextDue <= clock.now() + 1_000;
      await until(() => backoffArmed() && up.seen.filter((s) => s.path === path).length === 1, `first try of ${path}`);
      clock.advance((clock.nextDue as number) - clock.now());
      assert.equal((await answer).status, 200);
    }
    const tight = await request(port, '/tight');
    assert.equal(tight.status, 503, 'no retry budget: the first answer stands');
    assert.deepEqual(await scrapeAll(p, 'c', ['upstream_rq_retry', 'upstream_rq_retry_success', 'upstream_rq_retry_overflow']), {
      upstream_rq_retry: 2,
      upstream_rq_retry_success: 2,
      upstream_rq_retry_overflow: 0,
    });
    assert.deepEqual(await scrapeAll(p, 'tight', ['upstream_rq_retry', 'upstream_rq_retry_success', 'upstream_rq_retry_overflow']), {
      upstream_rq_retry: 0,
      upstream_rq_retry_success: 0,
      upstream_rq_retry_overflow: 1,
    });
  } finally {
    await p.close();
    await up.close();
  }
});

test('/stats/prometheus: upstream_cx_overflow and upstream_rq_pending_overflow at the pool bounds', async () => {
  const up = new FaultUpstream(() => ({ kind: 'hang' }));
  await up.listen();
  const p = await startProxy();
  try {
    push(p.proxy, [
      { ...cluster('c', { lb: 'ROUND_ROBIN' }), circuit_breakers: { thresholds: [{ max_connections: { value: 1 }, max_pending_requests: { value: 1 } }] } },
      cla('c', [{ port: up.port }]),
      listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
      routes([{ prefix: '/', cluster: 'c' }]),
    ]);
    const port = await p.port('0.0.0.0_8080');
    const c = p.proxy.clusters.get('c')!;
    const hung = [request(port, '/'), request(port, '/')].map((r) => r.catch(() => null));
    await until(() => up.seen.length === 1 && c.stats.upstream_rq_pending_active.value === 1, 'one request on the connection, one pending');
    const over = await request(port, '/');
    assert.deepEqual([over.status, over.headers['x-envoy-response-flags']], [503, 'UO']);
    // The second request found the one connection taken (a connection overflow) and queued; the third
    // found the queue full and was refused before any connection was tried (ConnPoolImplBase::newStreamImpl):
    // a pending overflow only.
    assert.deepEqual(await scrapeAll(p, 'c', ['upstream_cx_overflow', 'upstream_rq_pending_overflow']), { upstream_cx_overflow: 1, upstream_rq_pending_overflow: 1 });
    await up.close();
    await Promise.all(hung);
  } finally {
    await up.close().catch(() => {});
    await p.close();
  }
});
