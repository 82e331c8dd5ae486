// Locality failover end to end: Istio YAML translated for a proxy in us-east/us-east-1a, the cluster and
// its prioritised assignment pushed to a real proxy, requests on real sockets. When outlier detection
// ejects the local endpoint, traffic moves to the next locality, then the next; counted at each upstream.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { FakeClock } from './fake-clock.ts';
import { FaultUpstream } from './fault-upstream.ts';
import { apiCluster, apiServiceYaml, apiWorkload as workload, topology, translateForClient } from './locality-fixture.ts';

const yaml = `${apiServiceYaml}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: api, namespace: shop }
spec:
  host: api.shop.svc.cluster.local
  trafficPolicy:
    loadBalancer: { simple: ROUND_ROBIN }
    outlierDetection: { consecutive5xxErrors: 2, interval: 30s, baseEjectionTime: 30s, maxEjectionPercent: 100 }
`;


test('locality failover: an ejected local endpoint sends traffic to the same region, then to another region', async () => {
  const clock = new FakeClock();
  const local = new FaultUpstream();
  const near = new FaultUpstream();
  const far = new FaultUpstream();
  for (const u of [local, near, far]) await u.listen();
  const { cluster, cla } = translateForClient(yaml, [
    workload('api-0', local.port, topology('us-east', 'us-east-1a')),
    workload('api-1', near.port, topology('us-east', 'us-east-1b')),
    workload('api-2', far.port, topology('eu-west')),
  ]);
  const name = apiCluster;
  assert.deepEqual((cla['endpoints'] as { priority?: number }[]).map((g) => g.priority), [0, 1, 2]);
  const p = await startProxy({ timers: clock, random: () => 0 });
  try {
    push(p.proxy, [
      cluster,
      cla,
      listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
      routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: name, timeout: { seconds: '0' } }] }]),
    ]);
    const port = await p.port('0.0.0.0_8080');
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) await request(port, '/');
    };
    await send(4);
    assert.deepEqual([local.seen.length, near.seen.length, far.seen.length], [4, 0, 0], 'priority 0 (the proxy zone) takes everything');
    local.setPlan(() => ({ kind: 'status', status: 503 }));
    await send(2);
    assert.equal(p.proxy.clusters.get(name)?.outlier?.stats.ejections_active, 1);
    await send(5);
    assert.deepEqual([local.seen.length, near.seen.length, far.seen.length], [6, 5, 0], 'local ejected: the other zone of the region');
    near.setPlan(() => ({ kind: 'status', status: 503 }));
    await send(2);
    await send(3);
    assert.deepEqual([local.seen.length, near.seen.length, far.seen.length], [6, 7, 3], 'both ejected: the other region');
    local.setPlan(() => ({ kind: 'ok' }));
    clock.advance(30_000);
    await send(2);
    assert.deepEqual([local.seen.length, far.seen.length], [8, 3], 'back from ejection: the local zone again');
  } finally {
    await p.close();
    for (const u of [local, near, far]) await u.close();
  }
});
