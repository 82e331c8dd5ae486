// Route decorators (the span names) as pilot sets them, read back through the proxy's own route table:
// per destination on sidecar and gateway routes, per VirtualService where a route has no single
// destination, per service on default and inbound routes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import type { EnvoyRouteConfiguration } from '../proxy/http/route/envoy-types.ts';
import { compileRouteConfiguration } from '../proxy/http/route/index.ts';
import type { DownstreamRequest } from '../proxy/http/stream.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { buildProxyResources } from './proxy-resources.ts';
import { routeDecorator } from './route-decorator.ts';

const yaml = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { selector: { app: web }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec: { selector: { app: web }, ports: [{ name: http, port: 9090, targetPort: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: cart, namespace: shop }
spec: { selector: { app: cart }, ports: [{ name: http, port: 7070 }] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web-routes, namespace: shop }
spec:
  hosts: [web]
  gateways: [mesh, shop-gw]
  http:
    - match: [{ uri: { prefix: /api } }]
      route: [{ destination: { host: cart, subset: v1 } }]
    - match: [{ uri: { exact: /healthz } }]
      directResponse: { status: 200 }
    - match: [{ uri: { regex: '/v[0-9]+/.*' } }]
      route: [{ destination: { host: cart }, weight: 100 }, { destination: { host: web }, weight: 0 }]
    - match: [{ uri: { prefix: /team } }]
      delegate: { name: team }
    - route: [{ destination: { host: web } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: team, namespace: shop }
spec:
  http: [{ route: [{ destination: { host: api, port: { number: 9090 } } }] }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: shop-gw, namespace: shop }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ['*'] }]
`;

const sidecar: ProxyView = {
  id: 'sidecar~127.0.0.1~web-0.shop~shop.svc.cluster.local',
  role: 'sidecar',
  namespace: 'shop',
  workloadName: 'web',
  serviceAccount: 'web',
  labels: { app: 'web' },
  ip: '127.0.0.1',
  appPorts: {},
};

const router: ProxyView = { ...sidecar, id: 'router~127.0.0.1~gw-0.shop~shop.svc.cluster.local', role: 'router', workloadName: 'gw', labels: { istio: 'ingressgateway' } };

function request(authority: string, path: string): DownstreamRequest {
  return { method: 'GET', scheme: 'http', authority, sentAuthority: authority, path, query: '', headers: new Map(), protocol: 'HTTP/1.1', connection: { remoteAddress: '10.0.0.9', remotePort: 4000, localAddress: '', localPort: 80, tls: false } };
}

/** The span name of the route `authority` + `path` takes in route configuration `name`, as the proxy compiles it. */
function operationOf(proxy: ProxyView, name: string, authority: string, path: string): string | undefined {
  const out = buildProxyResources(buildSnapshot(loadText(yaml).resources, [], '1'), proxy);
  const rc = out.get(TypeUrl.RouteConfiguration)?.get(name);
  assert.ok(rc, `route configuration ${name}`);
  return compileRouteConfiguration(rc as EnvoyRouteConfiguration).match(request(authority, path), 0)?.decorator?.operation;
}

test('sidecar outbound: the destination host and port, the matched path; the VirtualService where no single destination', () => {
  assert.equal(operationOf(sidecar, '80', 'web', '/api/x'), 'cart.shop.svc.cluster.local:7070/api*', 'subset route: host and port of its cluster');
  assert.equal(operationOf(sidecar, '80', 'web', '/healthz'), 'web-routes:80/healthz', 'direct response: VirtualService and listener port');
  assert.equal(operationOf(sidecar, '80', 'web', '/v2/x'), 'web-routes:80/v[0-9]+/.*', 'two destinations, even one at weight 0: VirtualService');
  assert.equal(operationOf(sidecar, '80', 'web', '/team'), 'api.shop.svc.cluster.local:9090/team*', "a delegate's route under its root's match");
  assert.equal(operationOf(sidecar, '80', 'web', '/'), 'web.shop.svc.cluster.local:80/*');
  assert.equal(operationOf(sidecar, '7070', 'cart', '/x'), 'cart.shop.svc.cluster.local:7070/*', 'default route of a service without VirtualService');
  assert.equal(operationOf(sidecar, '80', 'elsewhere.example.com', '/'), undefined, 'allow_any carries none: Envoy names the span');
});

test('gateway: per route destination, the server port (80, not the pod port 8080) where the route has none', () => {
  // On a gateway the VirtualService's short host `web` is its FQDN (Istio's resolveVirtualServiceShortnames).
  assert.equal(operationOf(router, 'http.8080', 'web.shop.svc.cluster.local', '/api'), 'cart.shop.svc.cluster.local:7070/api*');
  assert.equal(operationOf(router, 'http.8080', 'web.shop.svc.cluster.local', '/healthz'), 'web-routes:80/healthz');
});

test("inbound: the first service to the port (by hostname), with that service's port", () => {
  const out = buildProxyResources(buildSnapshot(loadText(yaml).resources, [], '1'), sidecar);
  const inbound = out.get(TypeUrl.Listener)?.get('virtualInbound') as unknown as { filter_chains: { name: string; filters: { typed_config: { route_config?: EnvoyRouteConfiguration } }[] }[] };
  const chain = inbound.filter_chains.find((c) => c.name === 'inbound|8080||');
  const rc = chain?.filters[0]?.typed_config.route_config;
  assert.ok(rc);
  assert.equal(compileRouteConfiguration(rc).match(request('web', '/'), 0)?.decorator?.operation, 'api.shop.svc.cluster.local:9090/*');
});

test("inbound with a Sidecar's ingress ports: the Sidecar's name and namespace", () => {
  const withSidecar = `${yaml}---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: web-sidecar, namespace: shop }
spec:
  workloadSelector: { labels: { app: web } }
  ingress: [{ port: { number: 8080, protocol: HTTP, name: http }, defaultEndpoint: 127.0.0.1:8080 }]
`;
  const out = buildProxyResources(buildSnapshot(loadText(withSidecar).resources, [], '1'), sidecar);
  assert.match(JSON.stringify(out.get(TypeUrl.Listener)?.get('virtualInbound')), /"decorator":\{"operation":"web-sidecar\.shop:8080\/\*"\}/);
});

test('routeDecorator: paths by match kind, pilot subset keys only', () => {
  assert.deepEqual(routeDecorator({ prefix: '/' }, 'outbound|80||a.b.svc.cluster.local', 'vs', 8080), { operation: 'a.b.svc.cluster.local:80/*' });
  assert.deepEqual(routeDecorator({ path: '/x' }, 'PassthroughCluster', 'vs', 8080), { operation: 'vs:8080/x' });
  assert.deepEqual(routeDecorator({ path_separated_prefix: '/x' }, undefined, 'vs', 8080), { operation: 'vs:8080/*' });
});
