// Mirrors and consistent hashing through the real router and upstream sockets; locality priorities
// from EDS through a real cluster with outlier detection.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster } from '../../src/proxy/cluster/cluster.ts';
import { compileCluster } from '../../src/proxy/cluster/compile-cluster.ts';
import { compileLoadAssignment } from '../../src/proxy/cluster/endpoint.ts';
import type { EnvoyCluster, EnvoyClusterLoadAssignment } from '../../src/proxy/config/envoy-shapes.ts';
import { ClusterStatsFamilies } from '../../src/telemetry/metrics/cluster-stats.ts';
import { MetricsRegistry } from '../../src/telemetry/metrics/registry.ts';
import { request } from '../proxy/harness.ts';
import { FakeClock, until } from './fake-clock.ts';
import { FaultUpstream } from './fault-upstream.ts';
import { assignment, edsCluster, startFront } from './router-front.ts';

test('mirrors: a hanging shadow never delays the primary; the copy carries the -shadow authority and the body', async () => {
  const primary = new FaultUpstream();
  const shadow = new FaultUpstream(() => ({ kind: 'hang' }));
  await primary.listen();
  await shadow.listen();
  const mirrored = (prefix: string, pct: number) => ({
    match: { prefix },
    route: { cluster: 'p', request_mirror_policies: [{ cluster: 's', runtime_fraction: { default_value: { numerator: pct, denominator: 'HUNDRED' } } }] },
  });
  const f = await startFront({
    clusters: [edsCluster('p'), edsCluster('s')],
    assignments: [assignment('p', [primary.port]), assignment('s', [shadow.port])],
    routes: { name: 'r', virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [mirrored('/never', 0), mirrored('/', 100)] }] },
    random: () => 0.5,
  });
  try {
    for (let i = 0; i < 3; i++) assert.equal((await request(f.port, '/never')).status, 200);
    const r = await request(f.port, '/all', { method: 'POST', body: 'payload', host: 'svc:9080' });
    assert.equal(r.status, 200);
    await until(() => shadow.seen.length === 1 && shadow.seen[0]?.body === 'payload', 'the mirror copy with its body');
    assert.equal(shadow.seen[0]?.headers.host, 'svc-shadow:9080');
    assert.equal(primary.seen.length, 4);
  } finally {
    await f.close();
    await primary.close();
    await shadow.close();
  }
});

test('consistent hash: header, cookie (Set-Cookie when missing), query parameter and source IP keep a key on one endpoint', async () => {
  const ups = [new FaultUpstream(), new FaultUpstream(), new FaultUpstream()];
  for (const u of ups) await u.listen();
  const hashRoute = (prefix: string, policy: Record<string, unknown>) => ({ match: { prefix }, route: { cluster: 'c', hash_policy: [policy] } });
  for (const lb of ['RING_HASH', 'MAGLEV']) {
    const f = await startFront({
      clusters: [edsCluster('c', { lb_policy: lb })],
      assignments: [assignment('c', ups.map((u) => u.port))],
      routes: {
        name: 'r',
        virtual_hosts: [
          {
            name: 'vh',
            domains: ['*'],
            routes: [
              hashRoute('/h', { header: { header_name: 'x-user' } }),
              hashRoute('/c', { cookie: { name: 'sticky', ttl: { seconds: '60' } } }),
              hashRoute('/q', { query_parameter: { name: 'u' } }),
              hashRoute('/ip', { connection_properties: { source_ip: true } }),
            ],
          },
        ],
      },
    });
    try {
      const hostsFor = async (path: string, headers: Record<string, string> = {}) => {
        const seen = new Set<string>();
        for (let i = 0; i < 6; i++) {
          await request(f.port, path, { headers });
          seen.add(String(f.infos.at(-1)?.upstreamHost));
        }
        return seen;
      };
      assert.equal((await hostsFor('/h', { 'x-user': 'alice' })).size, 1, `${lb} header`);
      assert.equal((await hostsFor('/q?u=bob')).size, 1, `${lb} query`);
      assert.equal((await hostsFor('/ip')).size, 1, `${lb} source ip`);
      assert.equal((await hostsFor('/c', { cookie: 'sticky="k1"' })).size, 1, `${lb} cookie`);
      const users = new Set<string>();
      for (let i = 0; i < 12; i++) users.add([...(await hostsFor('/h', { 'x-user': `user-${i}` }))][0] ?? '');
      assert.ok(users.size >= 2, `${lb}: different keys spread over endpoints`);
      const fresh = await request(f.port, '/c');
      assert.match(String(fresh.headers['set-cookie']), /^sticky="[^"]+"; Max-Age=60/);
      assert.equal((await request(f.port, '/c', { headers: { cookie: 'sticky="k1"' } })).headers['set-cookie'], undefined);
    } finally {
      await f.close();
    }
  }
  for (const u of ups) await u.close();
});

test('locality: EDS priorities and locality fill the endpoints; with outlier detection, failover moves traffic to priority 1', () => {
  const clock = new FakeClock();
  const json = edsCluster('c', {
    lb_policy: 'ROUND_ROBIN',
    outlier_detection: { consecutive_5xx: { value: 1 }, max_ejection_percent: { value: 100 } },
    common_lb_config: { healthy_panic_threshold: { value: 0 }, locality_weighted_lb_config: {} },
  });
  const c = new Cluster(compileCluster(json as unknown as EnvoyCluster), { stats: new ClusterStatsFamilies(new MetricsRegistry()).bind('c'), random: () => 0, now: clock.now, tunnelTls: () => undefined });
  const eps = compileLoadAssignment({
    cluster_name: 'c',
    endpoints: [
      { locality: { region: 'r1', zone: 'z1' }, priority: 0, load_balancing_weight: { value: 3 }, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } } }] },
      { locality: { region: 'r2', zone: 'z2' }, priority: 1, load_balancing_weight: { value: 1 }, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.2', port_value: 80 } } } }] },
    ],
  } as EnvoyClusterLoadAssignment);
  assert.deepEqual(eps.map((e) => [e.priority, e.locality, e.localityWeight]), [[0, 'r1/z1/', 3], [1, 'r2/z2/', 1]]);
  c.setEndpoints(eps);
  c.useTimers(clock);
  const picks = () => Array.from({ length: 4 }, () => c.pick()?.key);
  assert.deepEqual(picks(), Array(4).fill('10.0.0.1:80'));
  c.reportResult('10.0.0.1:80', 503);
  assert.deepEqual(picks(), Array(4).fill('10.0.0.2:80'));
  clock.advance(10_000 + 30_000);
  assert.deepEqual(picks(), Array(4).fill('10.0.0.1:80'));
});
