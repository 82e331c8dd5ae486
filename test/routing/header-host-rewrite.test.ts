// A VirtualService's `headers.request.set.host` (any case; `:authority` on the route only, or `add`) from YAML to a real proxy:
// Istio's TranslateHeadersOperations makes it the route's (or the weighted destination's)
// host_rewrite_literal, so the upstream request carries that authority.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { hcm, listener, push, request, startProxy } from '../proxy/harness.ts';
import { FaultUpstream } from '../resilience/fault-upstream.ts';
import { apiServiceYaml, apiWorkload, translateForClient } from '../resilience/locality-fixture.ts';

const yaml = `${apiServiceYaml}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api, namespace: shop }
spec:
  hosts: [api.shop.svc.cluster.local]
  http:
    - match: [{ uri: { prefix: /weighted } }]
      route:
        - { destination: { host: api.shop.svc.cluster.local }, weight: 60, headers: { request: { add: { Host: first.example.com } } } }
        - { destination: { host: api.shop.svc.cluster.local }, weight: 40, headers: { request: { set: { host: second.example.com } } } }
    - headers: { request: { set: { Host: rewritten.example.com, x-kept: "yes" } } }
      route: [{ destination: { host: api.shop.svc.cluster.local } }]
`;

test('headers.request.set.host rewrites the upstream authority, on the route and on a weighted destination', async (t) => {
  const up = new FaultUpstream();
  await up.listen();
  // Closed whatever fails first (the YAML's translation included), so a failure cannot hold the file open.
  t.after(() => up.close().catch(() => {}));
  const { translated, cluster, cla } = translateForClient(yaml, [apiWorkload('api-0', up.port, {})]);
  const rc = translated.get(TypeUrl.RouteConfiguration)?.get('80') as TypedAny;
  // The first weighted destination for a draw of 0, the second for one past its 60 %.
  let draw = 0;
  const p = await startProxy({ random: () => draw });
  try {
    push(p.proxy, [cluster, cla, listener('0.0.0.0_8080', 8080, [{ filter: hcm('80') }]), rc]);
    const port = await p.port('0.0.0.0_8080');
    assert.equal((await request(port, '/', { host: 'api.shop.svc.cluster.local' })).status, 200);
    assert.equal(up.seen.at(-1)?.headers.host, 'rewritten.example.com');
    assert.equal(up.seen.at(-1)?.headers['x-kept'], 'yes');
    assert.equal((await request(port, '/weighted', { host: 'api.shop.svc.cluster.local' })).status, 200);
    assert.equal(up.seen.at(-1)?.headers.host, 'first.example.com');
    draw = 0.9;
    assert.equal((await request(port, '/weighted', { host: 'api.shop.svc.cluster.local' })).status, 200);
    assert.equal(up.seen.at(-1)?.headers.host, 'second.example.com');
  } finally {
    await p.close();
  }
});
