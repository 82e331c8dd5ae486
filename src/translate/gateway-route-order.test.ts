// Gateway routes as Istio orders and ports them, compiled by the proxy's own route library: routes of
// several VirtualServices for one host merge in order with catch-alls moved last (SortVHostRoutes), and
// a server's routes see its own port (80), not the pod's listener port (8080).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import type { EnvoyRouteConfiguration } from '../proxy/http/route/envoy-types.ts';
import { compileRouteConfiguration, type RouteTable } from '../proxy/http/route/index.ts';
import type { DownstreamRequest } from '../proxy/http/stream.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { buildProxyResources } from './proxy-resources.ts';
import { ingressGatewayView } from '../../test/fixtures/ingress-gateway-view.ts';

const router = ingressGatewayView;

const base = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: app }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 9898 }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: app }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*.example.com"] }]
`;

const vs = (name: string, http: string) => `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: app }
spec:
  hosts: [shop.example.com]
  gateways: [gw]
  http:
${http}`;

/** The gateway's table for its HTTP server on 80 (the pod listens on 8080: `http.8080`). */
function table(yaml: string): RouteTable {
  const { resources, diagnostics } = loadText(base + yaml, 'input.yaml');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const rc = buildProxyResources(buildSnapshot(resources, [], '1'), router).get(TypeUrl.RouteConfiguration)?.get('http.8080');
  assert.ok(rc, 'the gateway has http.8080');
  return compileRouteConfiguration(rc as EnvoyRouteConfiguration);
}

function request(path: string): DownstreamRequest {
  return {
    method: 'GET',
    scheme: 'http',
    authority: 'shop.example.com',
    sentAuthority: 'shop.example.com',
    path,
    query: '',
    headers: new Map(),
    protocol: 'HTTP/1.1',
    connection: { remoteAddress: '10.0.0.1', remotePort: 4444, localAddress: '127.0.0.1', localPort: 8080, tls: false },
  };
}

const routeName = (t: RouteTable, path: string) => t.match(request(path), 0)?.name ?? 'NR';

test('several VirtualServices for one gateway host: merged in order, a catch-all moved last (Istio SortVHostRoutes)', () => {
  const t = table(
    vs('a-catch-all', `    - name: everything
      route: [{ destination: { host: web } }]
`) +
      vs('b-specific', `    - name: orders
      match: [{ uri: { prefix: /orders } }]
      route: [{ destination: { host: web } }]
    - name: with-header
      match: [{ uri: { prefix: / }, headers: { x-beta: { exact: "1" } } }]
      route: [{ destination: { host: web } }]
`),
  );
  assert.equal(routeName(t, '/orders/7'), 'orders', "the older VirtualService's catch-all does not hide it");
  assert.equal(routeName(t, '/'), 'everything');
  // A prefix / with a header match is not a catch-all: it stays, ahead of the moved `everything`.
  assert.equal(t.match({ ...request('/x'), headers: new Map([['x-beta', '1']]) }, 0)?.name, 'with-header');
  assert.equal(routeName(t, '/x'), 'everything');
  // Istio's proxyHeaders.attemptCount is on for gateways too: each try tells the upstream its number.
  assert.equal(t.match(request('/x'), 0)?.includeAttemptCount, true);
});

test('a VirtualService keeps its routes only through its first catch-all, as Istio builds them; regex .* is a catch-all too', () => {
  const one = table(
    vs('one', `    - name: everything
      route: [{ destination: { host: web } }]
    - name: api
      match: [{ uri: { prefix: /api } }]
      route: [{ destination: { host: web } }]
`),
  );
  // `api` comes after the catch-all of its own VirtualService: Istio never builds it, so moving the
  // catch-all to the end must not make it reachable.
  assert.equal(routeName(one, '/api/x'), 'everything');
  const regex = table(
    vs('a', `    - name: all-regex
      match: [{ uri: { regex: ".*" } }]
      route: [{ destination: { host: web } }]
`) +
      vs('b', `    - name: api
      match: [{ uri: { prefix: /api } }]
      route: [{ destination: { host: web } }]
`),
  );
  assert.equal(routeName(regex, '/api/x'), 'api');
  assert.equal(routeName(regex, '/other'), 'all-regex');
});

test("a gateway server's routes see its port (80): match.port and derivePort FROM_REQUEST_PORT", () => {
  const t = table(
    vs('ports', `    - name: on-80
      match: [{ port: 80, uri: { prefix: /p } }]
      route: [{ destination: { host: web } }]
    - name: on-8080
      match: [{ port: 8080, uri: { prefix: /p } }]
      route: [{ destination: { host: web } }]
    - name: moved
      match: [{ uri: { prefix: /old } }]
      redirect: { authority: new.example.com, derivePort: FROM_REQUEST_PORT }
`),
  );
  assert.equal(routeName(t, '/p'), 'on-80');
  // Port 80 on an http server is no port at all (pilot's ApplyRedirect drops :80 for http).
  assert.equal(t.match(request('/old'), 0)?.redirect?.location(request('/old')), 'http://new.example.com/old');
});

test('derivePort FROM_REQUEST_PORT on a server with tls: the default scheme is https, so 80 stays and 443 goes (pilot\'s IsTLS)', () => {
  const redirectOn = (server: string) => {
    const yaml = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: app }
spec:
  selector: { istio: ingressgateway }
  servers: [${server}]
${vs('moved', `    - name: moved
      redirect: { authority: new.example.com, derivePort: FROM_REQUEST_PORT }
`)}`;
    const { resources, diagnostics } = loadText(yaml, 'input.yaml');
    assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
    const rcs = [...(buildProxyResources(buildSnapshot(resources, [], '1'), router).get(TypeUrl.RouteConfiguration)?.values() ?? [])] as unknown as EnvoyRouteConfiguration[];
    const routes = rcs.flatMap((rc) => (rc.virtual_hosts ?? []).flatMap((vh) => vh.routes ?? []));
    return routes.find((r) => r.name === 'moved')?.redirect;
  };
  assert.deepEqual(redirectOn('{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*.example.com"], tls: { httpsRedirect: true } }'), { host_redirect: 'new.example.com', port_redirect: 80 });
  assert.deepEqual(redirectOn('{ port: { number: 443, name: https, protocol: HTTPS }, hosts: ["*.example.com"], tls: { mode: SIMPLE, credentialName: shop-cert } }'), { host_redirect: 'new.example.com' });
  assert.deepEqual(redirectOn('{ port: { number: 8443, name: https, protocol: HTTPS }, hosts: ["*.example.com"], tls: { mode: SIMPLE, credentialName: shop-cert } }'), { host_redirect: 'new.example.com', port_redirect: 8443 });
});

test('VirtualServices in different namespaces merge by name, then namespace (Istio\'s tie-break for one creation second)', () => {
  const other = (ns: string, name: string, route: string, prefix: string) => `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: ${ns} }
spec:
  hosts: [shop.example.com]
  gateways: [app/gw]
  http:
    - name: ${route}
      match: [{ uri: { prefix: ${prefix} } }]
      route: [{ destination: { host: web.app.svc.cluster.local } }]
`;
  // b/alpha sorts before a/zeta by name, though a/zeta comes first by namespace.
  const t = table(other('a', 'zeta', 'from-zeta', '/shared') + other('b', 'alpha', 'from-alpha', '/shared'));
  assert.equal(routeName(t, '/shared'), 'from-alpha');
});

test('a VirtualService that carries its creationTimestamp (an exported manifest) is ordered by it, before any created now', () => {
  const at = (name: string, route: string, created?: string) => `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: app${created ? `, creationTimestamp: "${created}"` : ''} }
spec:
  hosts: [shop.example.com]
  gateways: [gw]
  http:
    - name: ${route}
      match: [{ uri: { prefix: /shared } }]
      route: [{ destination: { host: web } }]
`;
  // zeta was created first: its route wins over alpha's, whatever the names say.
  assert.equal(routeName(table(at('alpha', 'from-alpha', '2024-05-02T10:00:00Z') + at('zeta', 'from-zeta', '2024-05-01T10:00:00Z')), '/shared'), 'from-zeta');
  // One without a timestamp is created now, after the exported one.
  assert.equal(routeName(table(at('alpha', 'from-alpha') + at('zeta', 'from-zeta', '2024-05-01T10:00:00Z')), '/shared'), 'from-zeta');
  // Within one second, the name decides.
  assert.equal(routeName(table(at('zeta', 'from-zeta', '2024-05-01T10:00:00.900Z') + at('alpha', 'from-alpha', '2024-05-01T10:00:00.100Z')), '/shared'), 'from-alpha');
});
