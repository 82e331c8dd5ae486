// VirtualService HTTP routes as pilot's translateRoute and applyHTTPRouteDestination write them: route
// names, the forwarding action for one or several destinations (zero weights, hash policies, host
// rewrites), rewrite.uri, and gateway binding by each of Istio's name forms.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ingressGatewayView } from '../../test/fixtures/ingress-gateway-view.ts';
import { routeRequest, shopClientView, translatedRouteConfig } from '../../test/fixtures/sidecar-route-config.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import type { EnvoyRoute, EnvoyRouteConfiguration } from '../proxy/http/route/envoy-types.ts';
import { compileRouteConfiguration } from '../proxy/http/route/index.ts';


const services = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { selector: { app: web }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: other, namespace: shop }
spec: { selector: { app: other }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
`;

function routeConfig(yaml: string, proxy: ProxyView = shopClientView, name = '80'): EnvoyRouteConfiguration {
  return translatedRouteConfig(`${services}---\n${yaml}`, proxy, name);
}

/** The first Envoy route of the `web` virtual host for an `http:` list. */
function firstRoute(http: string, extra = ''): EnvoyRoute {
  const rc = routeConfig(`${extra}apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: shop }
spec:
  hosts: [web]
  http:
${http}`);
  return rc.virtual_hosts!.find((v) => v.name?.startsWith('web'))!.routes![0]!;
}

test('a named match of an unnamed route is ".<match>" (translateRoute)', () => {
  const r = firstRoute(`    - match: [{ name: api, uri: { prefix: /api } }]
      route: [{ destination: { host: other } }]
`);
  assert.equal(r.name, '.api');
});

test('rewrite { uri: "", authority } rewrites only the authority: no prefix_rewrite', () => {
  const r = firstRoute(`    - match: [{ uri: { prefix: /api } }]
      rewrite: { uri: "", authority: backend.example.com }
      route: [{ destination: { host: other } }]
`);
  assert.equal(r.route?.prefix_rewrite, undefined);
  assert.equal(r.route?.host_rewrite_literal, 'backend.example.com');
});

test('weighted destinations each add their DestinationRule consistent-hash policy (processWeightedDestination)', () => {
  const r = firstRoute(
    `    - route:
        - { destination: { host: web, subset: v1 }, weight: 90 }
        - { destination: { host: web, subset: v2 }, weight: 10 }
`,
    `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: web, namespace: shop }
spec:
  host: web
  trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x-user } } }
  subsets: [{ name: v1, labels: { v: "1" } }, { name: v2, labels: { v: "2" } }]
---
`,
  );
  assert.deepEqual(r.route?.hash_policy, [{ header: { header_name: 'x-user' } }, { header: { header_name: 'x-user' } }]);
});

test('weights [100, 0] stay weighted clusters, so the destination\'s host rewrite wins over rewrite.authority', () => {
  const http = `    - rewrite: { authority: from-rewrite.example.com }
      route:
        - destination: { host: web }
          weight: 100
          headers: { request: { set: { host: from-destination.example.com } } }
        - destination: { host: other }
          weight: 0
`;
  const r = firstRoute(http);
  assert.equal(r.route?.cluster, undefined);
  assert.deepEqual(r.route?.weighted_clusters?.clusters?.map((c) => [c.weight, c.host_rewrite_literal]), [
    [{ value: 100 }, 'from-destination.example.com'],
  ]);
  const t = compileRouteConfiguration({ name: 'x', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [r] }] });
  const matched = t.match(routeRequest('web'), 0)!;
  assert.equal(matched.rewriteAuthority(routeRequest('web'), matched.pickCluster(0)), 'from-destination.example.com');
});

test('a VirtualService binds a gateway by `name.namespace.svc.cluster.local` and by `./name` (resolveGatewayName)', () => {
  const gateway = (ns: string) => `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: ${ns} }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]
---
`;
  const bound = (gatewayRef: string, gatewayNs: string) => {
    const rc = routeConfig(
      `${gateway(gatewayNs)}apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: shop }
spec:
  hosts: [shop.example.com]
  gateways: ["${gatewayRef}"]
  http:
    - name: web
      match: [{ gateways: ["${gatewayRef}"] }]
      route: [{ destination: { host: web } }]
`,
      ingressGatewayView,
      'http.8080',
    );
    return compileRouteConfiguration(rc).match(routeRequest('shop.example.com'), 0)?.name;
  };
  assert.equal(bound('gw.istio-system.svc.cluster.local', 'istio-system'), 'web');
  assert.equal(bound('gw.istio-system', 'istio-system'), 'web');
  assert.equal(bound('./gw', 'shop'), 'web');
});
