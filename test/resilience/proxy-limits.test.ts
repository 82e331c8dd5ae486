// Circuit breaking and outlier detection through a real OutriggerProxy: config pushed as xDS, requests
// on real sockets, counts read at the fault upstreams and in the cluster's stats.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { FakeClock, until } from './fake-clock.ts';
import { FaultUpstream } from './fault-upstream.ts';

async function proxyFor(clusterJson: Record<string, unknown>, ports: number[], clock?: FakeClock) {
  const p = await startProxy(clock ? { timers: clock, random: () => 0 } : {});
  push(p.proxy, [
    { ...cluster('c', { lb: 'ROUND_ROBIN' }), ...clusterJson },
    cla('c', ports.map((port) => ({ port }))),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
    routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'c', timeout: { seconds: '0' } }] }]),
  ]);
  return { ...p, port: await p.port('0.0.0.0_8080'), cluster: p.proxy.clusters.get('c')! };
}

const seedPool = { circuit_breakers: { thresholds: [{ max_connections: { value: 100 }, max_pending_requests: { value: 50 }, max_retries: { value: 4294967295 }, max_requests: { value: 4294967295 } }] } };
const seedProtocol = {
  typed_extension_protocol_options: {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': TypeUrl.HttpProtocolOptions,
      common_http_protocol_options: { max_requests_per_connection: { value: 2 } },
      explicit_http_config: { http_protocol_options: {} },
    },
  },
};

test('the seed pool (100 connections, 50 pending): the 151st concurrent request is the first 503 UO', async () => {
  const up = new FaultUpstream(() => ({ kind: 'hang' }));
  await up.listen();
  const p = await proxyFor(seedPool, [up.port]);
  try {
    const inflight = Array.from({ length: 150 }, () => request(p.port, '/').catch(() => ({ status: 0, headers: {}, body: '' })));
    await until(() => up.seen.length === 100 && p.cluster.stats.upstream_rq_pending_active.value === 50, '100 on connections, 50 pending', 1000);
    assert.equal(p.cluster.stats.upstream_rq_pending_overflow.value, 0);
    const over = await request(p.port, '/');
    assert.deepEqual([over.status, over.headers['x-envoy-response-flags']], [503, 'UO']);
    assert.equal(p.cluster.stats.upstream_rq_pending_overflow.value, 1);
    assert.equal(up.seen.length, 100);
    // Hung requests fail; each frees its connection for a pending one, which then reaches the upstream.
    await up.close();
    await Promise.all(inflight);
  } finally {
    await up.close().catch(() => {});
    await p.close();
  }
});

test('max_requests: past it, 503 UO counted in upstream_rq_pending_overflow', async () => {
  const up = new FaultUpstream(() => ({ kind: 'hang' }));
  await up.listen();
  const p = await proxyFor({ circuit_breakers: { thresholds: [{ max_requests: { value: 2 } }] } }, [up.port]);
  try {
    const hung = [request(p.port, '/'), request(p.port, '/')].map((r) => r.catch(() => null));
    await until(() => up.seen.length === 2, 'two requests in flight');
    const r = await request(p.port, '/');
    assert.deepEqual([r.status, r.headers['x-envoy-response-flags']], [503, 'UO']);
    assert.equal(p.cluster.stats.upstream_rq_pending_overflow.value, 1);
    await up.close();
    await Promise.all(hung);
  } finally {
    await up.close().catch(() => {});
    await p.close();
  }
});

test('max_connections 1, two endpoints: a host with no connection still gets its first one past the limit (counted in upstream_cx_overflow); a busy host queues', async () => {
  // Envoy's ConnPoolImplBase::tryCreateNewConnection: past the limit, a pool with no connection at all
  // (none ready, busy or connecting) makes one anyway, so its requests are never queued with nothing
  // that could serve them.
  const a = new FaultUpstream(() => ({ kind: 'hang' }));
  const b = new FaultUpstream(() => ({ kind: 'hang' }));
  await a.listen();
  await b.listen();
  const p = await proxyFor({ circuit_breakers: { thresholds: [{ max_connections: { value: 1 }, max_pending_requests: { value: 100 } }] } }, [a.port, b.port]);
  try {
    const inflight = [request(p.port, '/1'), request(p.port, '/2')].map((r) => r.catch(() => null));
    await until(() => a.seen.length === 1 && b.seen.length === 1, 'one request on each host at once');
    assert.equal(p.cluster.stats.upstream_cx_overflow.value, 1);
    assert.equal(p.cluster.stats.upstream_rq_pending_active.value, 0);
    assert.equal(p.cluster.resources().connections.current, 2);
    // Round robin sends the next to the first host again: it has a busy connection, so this one waits.
    const third = request(p.port, '/3').catch(() => null);
    await until(() => p.cluster.stats.upstream_rq_pending_active.value === 1, 'the third request queued');
    assert.equal(p.cluster.stats.upstream_cx_overflow.value, 2);
    assert.equal(a.seen.length + b.seen.length, 2);
    await a.close();
    await b.close();
    await Promise.all([...inflight, third]);
    await until(() => p.cluster.resources().connections.current === 0, 'every slot given back');
  } finally {
    await a.close().catch(() => {});
    await b.close().catch(() => {});
    await p.close();
  }
});

test('max_requests_per_connection 2 (the seed): six sequential requests use exactly three upstream connections', async () => {
  const up = new FaultUpstream();
  await up.listen();
  const p = await proxyFor({ ...seedPool, ...seedProtocol }, [up.port]);
  try {
    for (let i = 0; i < 6; i++) assert.equal((await request(p.port, '/')).status, 200);
    assert.equal(new Set(up.seen.map((s) => s.remotePort)).size, 3);
  } finally {
    await p.close();
    await up.close();
  }
});

test('outlier detection (the seed: 5 consecutive 5xx, 30 s, 50 %): the failing endpoint gets zero requests while ejected, then returns', async () => {
  const clock = new FakeClock();
  const good = new FaultUpstream();
  const bad = new FaultUpstream(() => ({ kind: 'status', status: 503 }));
  await good.listen();
  await bad.listen();
  const outlier = {
    outlier_detection: { consecutive_5xx: { value: 5 }, interval: { seconds: '30' }, base_ejection_time: { seconds: '30' }, max_ejection_percent: { value: 50 }, enforcing_success_rate: { value: 0 } },
    common_lb_config: { healthy_panic_threshold: { value: 0 } },
  };
  const p = await proxyFor(outlier, [good.port, bad.port], clock);
  try {
    // Round robin alternates: ten requests give the bad endpoint its five consecutive 5xx.
    for (let i = 0; i < 10; i++) await request(p.port, '/');
    assert.equal(bad.seen.length, 5);
    assert.equal(p.cluster.outlier?.stats.ejections_active, 1);
    assert.equal(p.cluster.outlier?.stats.ejections_enforced_consecutive_5xx, 1);
    for (let i = 0; i < 20; i++) assert.equal((await request(p.port, '/')).status, 200);
    assert.equal(bad.seen.length, 5, 'no request reaches the ejected endpoint');
    clock.advance(29_999);
    for (let i = 0; i < 4; i++) await request(p.port, '/');
    assert.equal(bad.seen.length, 5, 'still ejected just before the interval tick');
    clock.advance(1);
    assert.equal(p.cluster.outlier?.stats.ejections_active, 0);
    bad.setPlan(() => ({ kind: 'ok' }));
    for (let i = 0; i < 4; i++) assert.equal((await request(p.port, '/')).status, 200);
    assert.equal(bad.seen.length, 7, 'back in rotation: every other request');
  } finally {
    await p.close();
    await good.close();
    await bad.close();
  }
});

test('outlier detection: max_ejection_percent 50 keeps one of two endpoints in, counting the overflow', async () => {
  const clock = new FakeClock();
  const a = new FaultUpstream(() => ({ kind: 'status', status: 500 }));
  const b = new FaultUpstream(() => ({ kind: 'status', status: 500 }));
  await a.listen();
  await b.listen();
  const p = await proxyFor({ outlier_detection: { consecutive_5xx: { value: 5 }, max_ejection_percent: { value: 50 } }, common_lb_config: { healthy_panic_threshold: { value: 0 } } }, [a.port, b.port], clock);
  try {
    for (let i = 0; i < 14; i++) await request(p.port, '/');
    assert.equal(p.cluster.outlier?.stats.ejections_active, 1);
    assert.ok((p.cluster.outlier?.stats.ejections_overflow ?? 0) >= 1);
  } finally {
    await p.close();
    await a.close();
    await b.close();
  }
});

test('connect failure without a retry policy: 503 UF, counted in upstream_cx_connect_fail', async () => {
  const up = new FaultUpstream();
  await up.listen();
  const dead = new FaultUpstream();
  await dead.listen();
  const deadPort = dead.port;
  await dead.close();
  const p = await proxyFor({}, [deadPort, up.port]);
  try {
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await request(p.port, '/'));
    const failed = answers.filter((r) => r.status === 503);
    assert.equal(failed.length, 2, 'round robin: every other request goes to the dead endpoint');
    assert.ok(failed.every((r) => r.headers['x-envoy-response-flags'] === 'UF'));
    assert.equal(p.cluster.stats.upstream_cx_connect_fail.value, 2);
    assert.equal(up.seen.length, 2);
  } finally {
    await p.close();
    await up.close();
  }
});
