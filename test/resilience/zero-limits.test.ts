// DestinationRule connectionPool limits of 0, from YAML through the translation to a real proxy:
// Istio's applyConnectionPool copies a limit only when it is above 0, so 0 is unlimited (2^32-1),
// not a circuit breaker that refuses every request.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { hcm, listener, push, request, startProxy } from '../proxy/harness.ts';
import { advanceUntilSettled, FakeClock } from './fake-clock.ts';
import { type FaultPlan, FaultUpstream } from './fault-upstream.ts';
import { apiServiceYaml, apiWorkload, translateForClient } from './locality-fixture.ts';

const yaml = (pool: string) => `${apiServiceYaml}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: api, namespace: shop }
spec:
  host: api.shop.svc.cluster.local
  trafficPolicy:
    connectionPool: ${pool}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api, namespace: shop }
spec:
  hosts: [api.shop.svc.cluster.local]
  http:
    - route: [{ destination: { host: api.shop.svc.cluster.local } }]
      retries: { attempts: 3, retryOn: 5xx }
`;

/** One request through the client sidecar's translation of `pool`: its status and the tries the upstream saw. */
async function send(pool: string, plan: FaultPlan): Promise<{ status: number; tries: number }> {
  const clock = new FakeClock();
  const up = new FaultUpstream(plan);
  await up.listen();
  const { translated, cluster, cla } = translateForClient(yaml(pool), [apiWorkload('api-0', up.port, {})]);
  const rc = translated.get(TypeUrl.RouteConfiguration)?.get('80') as TypedAny;
  const p = await startProxy({ timers: clock });
  try {
    push(p.proxy, [cluster, cla, listener('0.0.0.0_8080', 8080, [{ filter: hcm('80') }]), rc]);
    const port = await p.port('0.0.0.0_8080');
    const res = await advanceUntilSettled(clock, request(port, '/', { host: 'api.shop.svc.cluster.local' }), 'the answer');
    return { status: res.status, tries: up.seen.length };
  } finally {
    await p.close();
    await up.close();
  }
}

test('http1MaxPendingRequests, http2MaxRequests and tcp.maxConnections 0: requests pass', { timeout: 20_000 }, async () => {
  for (const pool of ['{ http: { http1MaxPendingRequests: 0 } }', '{ http: { http2MaxRequests: 0 } }', '{ tcp: { maxConnections: 0 } }']) {
    assert.deepEqual(await send(pool, () => ({ kind: 'ok' })), { status: 200, tries: 1 }, pool);
  }
});

test('maxRetries 0: the route still retries (a 503, then a 200)', async () => {
  const r = await send('{ http: { maxRetries: 0 } }', (n) => (n === 0 ? { kind: 'status', status: 503 } : { kind: 'ok' }));
  assert.deepEqual(r, { status: 200, tries: 2 });
});
