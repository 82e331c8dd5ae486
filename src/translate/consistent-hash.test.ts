// DestinationRule consistentHash → the route's hash_policy, field by field as Istio writes it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { translateHashPolicy } from './consistent-hash.ts';
import { buildProxyResources } from './proxy-resources.ts';

test('httpCookie.attributes reach the cookie hash policy (Istio 1.28+), an empty value left out', () => {
  const hp = translateHashPolicy({ httpCookie: { name: 'sid', ttl: '60s', attributes: [{ name: 'SameSite', value: 'Strict' }, { name: 'Secure' }, { name: 'Partitioned', value: '' }] } });
  assert.deepEqual(hp, [{ cookie: { name: 'sid', ttl: { seconds: 60 }, attributes: [{ name: 'SameSite', value: 'Strict' }, { name: 'Secure' }, { name: 'Partitioned' }] } }]);
  assert.deepEqual(translateHashPolicy({ httpCookie: { name: 'sid', ttl: '60s' } }), [{ cookie: { name: 'sid', ttl: { seconds: 60 } } }]);
});

test('a port-level consistentHash reaches a VirtualService destination without `port` (deliberate deviation, docs/translation.md)', () => {
  const yaml = `apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, ports: [{name: http, port: 8080, targetPort: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: shop}
spec:
  host: api.shop.svc.cluster.local
  trafficPolicy:
    portLevelSettings:
      - port: {number: 8080}
        loadBalancer: {consistentHash: {httpHeaderName: x-user}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.shop.svc.cluster.local]
  http:
    - route: [{destination: {host: api.shop.svc.cluster.local}}]
`;
  const web = { id: 'sidecar~127.0.0.1~web-0.shop~shop.svc.cluster.local', role: 'sidecar', namespace: 'shop', workloadName: 'web', serviceAccount: 'web', labels: { app: 'web' }, ip: '127.0.0.1', appPorts: {} } as ProxyView;
  const out = buildProxyResources(buildSnapshot(loadText(yaml).resources, [], '1'), web);
  const rc = out.get(TypeUrl.RouteConfiguration)?.get('8080') as unknown as { virtual_hosts: { routes: { route?: { cluster?: string; hash_policy?: unknown } }[] }[] };
  const route = rc.virtual_hosts.flatMap((v) => v.routes).find((r) => r.route?.cluster === 'outbound|8080||api.shop.svc.cluster.local');
  assert.deepEqual(route?.route?.hash_policy, [{ header: { header_name: 'x-user' } }]);
});
