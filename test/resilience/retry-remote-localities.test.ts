// retryRemoteLocalities end to end: Istio YAML translated for a proxy in us-east/us-east-1a (locality
// failover priorities), pushed to a real proxy. Both local endpoints answer 503: with the flag the
// third try leaves the local priority (previous_priorities, update_frequency 2) and succeeds in the
// next zone; without it every try stays local. Counted at each upstream; back-off on the injected clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { hcm, listener, push, request, startProxy } from '../proxy/harness.ts';
import { advanceUntilSettled, FakeClock } from './fake-clock.ts';
import { FaultUpstream } from './fault-upstream.ts';
import { apiServiceYaml, apiWorkload as workload, topology, translateForClient } from './locality-fixture.ts';

const yaml = `${apiServiceYaml}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: api, namespace: shop }
spec:
  host: api.shop.svc.cluster.local
  trafficPolicy:
    loadBalancer: { simple: ROUND_ROBIN }
    # Failover priorities need outlier detection; a threshold never reached keeps every endpoint in.
    outlierDetection: { consecutive5xxErrors: 1000, interval: 300s, baseEjectionTime: 30s, maxEjectionPercent: 100 }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api, namespace: shop }
spec:
  hosts: [api.shop.svc.cluster.local]
  http:
    - name: remote
      match: [{ uri: { prefix: /remote } }]
      route: [{ destination: { host: api.shop.svc.cluster.local } }]
      retries: { attempts: 3, retryOn: 5xx, retryRemoteLocalities: true }
    - name: local
      route: [{ destination: { host: api.shop.svc.cluster.local } }]
      retries: { attempts: 3, retryOn: 5xx }
`;


type Route = { name: string; route: { retry_policy?: Record<string, unknown> } };

test('retryRemoteLocalities: the third try leaves the local zone, as previous_priorities with update_frequency 2', async () => {
  const clock = new FakeClock();
  const localA = new FaultUpstream(() => ({ kind: 'status', status: 503 }));
  const localB = new FaultUpstream(() => ({ kind: 'status', status: 503 }));
  const near = new FaultUpstream();
  const far = new FaultUpstream();
  const all = [localA, localB, near, far];
  for (const u of all) await u.listen();
  const { translated, cluster, cla } = translateForClient(yaml, [
    workload('api-0', localA.port, topology('us-east', 'us-east-1a')),
    workload('api-1', localB.port, topology('us-east', 'us-east-1a')),
    workload('api-2', near.port, topology('us-east', 'us-east-1b')),
    workload('api-3', far.port, topology('eu-west')),
  ]);
  const routeConfig = translated.get(TypeUrl.RouteConfiguration)?.get('80') as TypedAny;
  assert.deepEqual((cla['endpoints'] as { priority?: number }[]).map((g) => g.priority ?? 0), [0, 1, 2]);
  const vhost = (routeConfig['virtual_hosts'] as { name: string; routes: Route[] }[]).find((v) => v.name === 'api.shop.svc.cluster.local:80');
  const policies = new Map(vhost?.routes.map((r) => [r.name, r.route.retry_policy]));
  assert.deepEqual(policies.get('remote')?.['retry_priority'], {
    name: 'envoy.retry_priorities.previous_priorities',
    typed_config: { '@type': TypeUrl.PreviousPrioritiesConfig, update_frequency: 2 },
  });
  assert.equal(policies.get('local')?.['retry_priority'], undefined);

  const p = await startProxy({ timers: clock, random: () => 0 });
  try {
    push(p.proxy, [cluster, cla, listener('0.0.0.0_8080', 8080, [{ filter: hcm('80') }]), routeConfig]);
    const port = await p.port('0.0.0.0_8080');
    const send = (path: string) => advanceUntilSettled(clock, request(port, path, { host: 'api.shop.svc.cluster.local' }), `an answer to ${path}`);
    const counts = () => all.map((u) => u.seen.length);

    const remote = await send('/remote');
    assert.equal(remote.status, 200);
    assert.deepEqual(counts(), [1, 1, 1, 0], 'two local tries (one per local host), then the next zone of the region');

    const local = await send('/local');
    assert.equal(local.status, 503, 'every try failed');
    assert.deepEqual(counts(), [3, 3, 1, 0], 'without retryRemoteLocalities all four tries stay in the local zone');

    near.setPlan(() => ({ kind: 'status', status: 503 }));
    const nearDown = await send('/remote');
    assert.equal(nearDown.status, 503);
    // Tries 1-2 local; tries 3-4 leave out priority 0 (the set is renewed only every second try), so
    // both go to the one near host: the far region is not reached within 3 retries.
    assert.deepEqual(counts(), [4, 4, 3, 0]);
  } finally {
    await p.close();
    for (const u of all) await u.close();
  }
});
