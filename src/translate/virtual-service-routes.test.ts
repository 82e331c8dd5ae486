// Which VirtualService a sidecar uses for a host: only one its Sidecar imports (by the VirtualService's
// own namespace), in Istio's order, with delegates merged only when exported to the root's namespace,
// and merged as Istio's mergeHTTPRoute / mergeHTTPMatchRequests / hasConflict merge them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import type { EnvoyRoute, EnvoyRouteConfiguration } from '../proxy/http/route/envoy-types.ts';
import { compileRouteConfiguration } from '../proxy/http/route/index.ts';
import type { DownstreamRequest } from '../proxy/http/stream.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { ingressGatewayView } from '../../test/fixtures/ingress-gateway-view.ts';
import { buildProxyResources } from './proxy-resources.ts';

const client: ProxyView = { id: 'x', role: 'sidecar', namespace: 'cli', workloadName: 'c', serviceAccount: 'c', labels: {}, ip: '127.0.0.1', appPorts: {}, tunnelAddress: '127.0.0.1:41001' };
const svc = `apiVersion: v1
kind: Service
metadata: {name: api, namespace: cli}
spec: {selector: {app: api}, ports: [{name: http, port: 80}]}
---
`;
const vs = (name: string, ns: string, status: number, extra = '') => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: ${ns}}
spec:
  hosts: [api.cli.svc.cluster.local]
  http: [{directResponse: {status: ${status}}}]${extra}
---
`;
/** The direct-response status of the first route of the api virtual host, or undefined for the default route. */
const statusFor = (yaml: string): number | undefined => {
  const { resources, diagnostics } = loadText(yaml);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const rc = buildProxyResources(buildSnapshot(resources, [], '1'), client).get(TypeUrl.RouteConfiguration)?.get('80') as unknown as {
    virtual_hosts: { domains: string[]; routes: { direct_response?: { status: number } }[] }[];
  };
  return rc.virtual_hosts.find((v) => v.domains.includes('api.cli.svc.cluster.local'))?.routes[0]?.direct_response?.status;
};
const sidecar = (hosts: string) => `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: cli}
spec: {egress: [{hosts: ${hosts}}]}
---
`;

test('a Sidecar imports VirtualServices by their own namespace (SelectVirtualServices)', () => {
  const other = `${svc}${vs('hijack', 'other', 418)}`;
  assert.equal(statusFor(`${other}${sidecar('["./*"]')}`), undefined);
  assert.equal(statusFor(`${other}${sidecar('["./*", "other/api.cli.svc.cluster.local"]')}`), 418);
  assert.equal(statusFor(other), 418);
  // A port's routes read the egress listener of that port (GetEgressListenerForRDS), not the catch-all.
  const perPort = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: cli}
spec: {egress: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["./*"]}, {hosts: ["*/*"]}]}
`;
  assert.equal(statusFor(`${other}${perPort}`), undefined);
});

test('among VirtualServices for a host: private to the proxy namespace, then exported to it, then public; then the oldest', () => {
  const older = (ns: string, name: string, status: number, exportTo: string) =>
    vs(name, ns, status, `\n  exportTo: ${exportTo}`).replace(`namespace: ${ns}}`, `namespace: ${ns}, creationTimestamp: "2024-01-01T00:00:00Z"}`);
  assert.equal(statusFor(`${svc}${older('pub', 'a', 500, '["*"]')}${vs('mine', 'cli', 201, '\n  exportTo: ["."]')}`), 201);
  assert.equal(statusFor(`${svc}${older('pub', 'a', 500, '["*"]')}${vs('named', 'other', 202, '\n  exportTo: [cli]')}`), 202);
  assert.equal(statusFor(`${svc}${older('pub', 'a', 500, '["*"]')}${vs('pub2', 'b', 203)}`), 500);
});

test('meshConfig.defaultVirtualServiceExportTo ["."] hides VirtualServices without exportTo from other namespaces', () => {
  const mesh = `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec: {meshConfig: {defaultVirtualServiceExportTo: ["."]}}
---
`;
  assert.equal(statusFor(`${svc}${vs('v', 'other', 418)}`), 418);
  assert.equal(statusFor(`${mesh}${svc}${vs('v', 'other', 418)}`), undefined);
  assert.equal(statusFor(`${mesh}${svc}${vs('v', 'cli', 418)}`), 418);
});

test('a delegate is merged only when exported to the root namespace (mergeVirtualServicesIfNeeded)', () => {
  const root = `${svc}apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: root, namespace: cli}
spec:
  hosts: [api.cli.svc.cluster.local]
  http: [{match: [{uri: {prefix: /}}], delegate: {name: child, namespace: team}}]
---
`;
  const child = (exportTo: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: child, namespace: team}
spec:
  ${exportTo}http: [{directResponse: {status: 418}}]
`;
  assert.equal(statusFor(`${root}${child('exportTo: ["."]\n  ')}`), undefined);
  assert.equal(statusFor(`${root}${child('exportTo: [cli]\n  ')}`), 418);
  assert.equal(statusFor(`${root}${child('')}`), 418);
});

// Root `root` (cli) for api, a `fallback` route after the delegating one, and delegate `child` in `childNs`.
const delegating = (rootHttp: string, childHttp: string, childNs = 'cli') => `${svc}apiVersion: v1
kind: Service
metadata: {name: other, namespace: cli}
spec: {selector: {app: other}, ports: [{name: http, port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: root, namespace: cli}
spec:
  hosts: [api.cli.svc.cluster.local]
  http:
${rootHttp}      delegate: {name: child, namespace: ${childNs}}
    - name: fallback
      route: [{destination: {host: api}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: child, namespace: ${childNs}}
spec:
  http:
${childHttp}`;

/** The api virtual host's routes for `yaml`, and the name of the route the proxy picks for a request. */
function apiRoutes(yaml: string, proxy: ProxyView = client) {
  const { resources, diagnostics } = loadText(yaml);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const rc = buildProxyResources(buildSnapshot(resources, [], '1'), proxy).get(TypeUrl.RouteConfiguration)?.get('80') as EnvoyRouteConfiguration;
  const table = compileRouteConfiguration(rc);
  const routes: EnvoyRoute[] = rc.virtual_hosts?.find((v) => v.domains?.includes('api.cli.svc.cluster.local'))?.routes ?? [];
  const pick = (path: string, headers: Record<string, string> = {}, method = 'GET') => {
    const req: DownstreamRequest = {
      method,
      scheme: 'http',
      authority: 'api',
      sentAuthority: 'api',
      path,
      query: '',
      headers: new Map(Object.entries(headers)),
      protocol: 'HTTP/1.1',
      connection: { remoteAddress: '127.0.0.1', remotePort: 4000, localAddress: '', localPort: 80, tls: false },
    };
    return table.match(req, 0)?.name;
  };
  return { routes, pick };
}

test('a delegate route takes the root route name (root-child), rewrite, timeout, headers and mirror it leaves unset (mergeHTTPRoute)', () => {
  const { routes } = apiRoutes(
    delegating(
      `    - name: r
      match: [{uri: {prefix: /api}}]
      rewrite: {uri: /v2}
      timeout: 3s
      headers: {request: {set: {x-from-root: "1"}}}
      mirror: {host: other}
`,
      `    - route: [{destination: {host: other}}]
    - name: own
      timeout: 1s
      route: [{destination: {host: other}}]
`,
      'team',
    ),
  );
  const [inherited, own] = routes;
  assert.equal(inherited?.name, 'r');
  assert.equal(inherited?.route?.prefix_rewrite, '/v2');
  assert.deepEqual(inherited?.route?.timeout, { seconds: 3 });
  assert.ok(inherited?.request_headers_to_add?.length, 'root headers');
  // The root's short mirror host is read in the root's namespace, the delegate's destination in its own.
  assert.equal(inherited?.route?.request_mirror_policies?.[0]?.cluster, 'outbound|80||other.cli.svc.cluster.local');
  assert.equal(inherited?.route?.cluster, 'outbound|80||other.team.svc.cluster.local');
  assert.equal(own?.name, 'r-own');
  assert.deepEqual(own?.route?.timeout, { seconds: 1 });
});

test('a delegate clause keeps the root clause withoutHeaders and sourceLabels, the maps merged (mergeHTTPMatchRequest)', () => {
  const yaml = delegating(
    `    - match: [{uri: {prefix: /api}, withoutHeaders: {x-internal: {}}, sourceLabels: {app: web}}]
`,
    `    - name: c
      match: [{withoutHeaders: {x-debug: {}}, sourceLabels: {version: v1}}]
      route: [{destination: {host: other}}]
`,
  );
  const { pick } = apiRoutes(yaml, { ...client, labels: { app: 'web', version: 'v1' } });
  assert.equal(pick('/api/x'), 'c');
  assert.equal(pick('/api/x', { 'x-internal': '1' }), 'fallback');
  assert.equal(pick('/api/x', { 'x-debug': '1' }), 'fallback');
  // The merged clause needs both labels.
  assert.equal(apiRoutes(yaml, { ...client, labels: { version: 'v1' } }).pick('/api/x'), 'fallback');
});

test('a delegate uri, method or header that does not narrow the root clause drops the delegate route (stringMatchConflict)', () => {
  const dropped = (rootMatch: string, childMatch: string) =>
    apiRoutes(
      delegating(
        `    - match: [${rootMatch}]
`,
        `    - name: c
      match: [${childMatch}]
      route: [{destination: {host: other}}]
`,
      ),
    ).routes.map((r) => r.name);
  assert.deepEqual(dropped('{uri: {exact: /login}}', '{uri: {prefix: /}}'), ['fallback']);
  assert.deepEqual(dropped('{uri: {prefix: /api}}', '{uri: {prefix: /}}'), ['fallback']);
  assert.deepEqual(dropped('{uri: {prefix: /api}, method: {exact: GET}}', '{method: {exact: POST}}'), ['fallback']);
  assert.deepEqual(dropped('{uri: {regex: "/a.*"}}', '{uri: {regex: "/a.*"}}'), ['fallback']);
  assert.deepEqual(dropped('{headers: {x-a: {exact: "1"}}}', '{headers: {x-a: {exact: "2"}}}'), ['fallback']);
  assert.deepEqual(dropped('{uri: {prefix: /api}}', '{uri: {prefix: /api}, ignoreUriCase: true}'), ['fallback']);
  assert.deepEqual(dropped('{uri: {prefix: /api}}', '{uri: {exact: /api/x}}'), ['c', 'fallback']);
});

test('a delegate route with one clause that fits no root clause is dropped whole (mergeHTTPMatchRequests)', () => {
  const { pick } = apiRoutes(
    delegating(
      `    - match: [{uri: {prefix: /a}}]
`,
      `    - name: c
      match: [{uri: {prefix: /a/x}}, {uri: {prefix: /b}}]
      route: [{destination: {host: other}}]
`,
    ),
  );
  assert.equal(pick('/a/x'), 'fallback');
});

test('merged clauses come delegate clause first, then root clause, named root-child', () => {
  const { routes } = apiRoutes(
    delegating(
      `    - match: [{uri: {prefix: /a}, name: ra}, {uri: {prefix: /b}, name: rb}]
`,
      `    - name: c
      match: [{headers: {x-1: {exact: "1"}}, name: d1}, {headers: {x-2: {exact: "2"}}, name: d2}]
      route: [{destination: {host: other}}]
`,
    ),
  );
  assert.deepEqual(
    routes.slice(0, 4).map((r) => [r.match?.prefix, r.match?.headers?.[0]?.name, r.name]),
    [
      ['/a', 'x-1', 'c.ra-d1'],
      ['/b', 'x-1', 'c.rb-d1'],
      ['/a', 'x-2', 'c.ra-d2'],
      ['/b', 'x-2', 'c.rb-d2'],
    ],
  );
});

test('a TCP chain reads the VirtualServices of its port\'s egress listener (GetEgressListenerForRDS), not every listener', () => {
  const yaml = `apiVersion: v1
kind: Service
metadata: {name: db, namespace: cli}
spec: {selector: {app: db}, clusterIP: 10.0.0.20, ports: [{name: tcp, port: 9000}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: hijack, namespace: other}
spec:
  hosts: [db.cli.svc.cluster.local]
  tcp: [{route: [{destination: {host: elsewhere.other.svc.cluster.local, port: {number: 9000}}}]}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: cli}
spec: {egress: [{port: {number: 9000, name: tcp, protocol: TCP}, hosts: ["./*"]}, {hosts: ["*/*"]}]}
`;
  const { resources, diagnostics } = loadText(yaml);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  type Chain = { name: string; filters: { name: string; typed_config: { cluster?: string } }[] };
  const listener = buildProxyResources(buildSnapshot(resources, [], '1'), client).get(TypeUrl.Listener)?.get('virtualOutbound') as unknown as { filter_chains: Chain[] };
  const chain = listener.filter_chains.find((c) => c.name === 'outbound|9000||db.cli.svc.cluster.local');
  const cluster = chain?.filters.find((f) => f.name === 'envoy.filters.network.tcp_proxy')?.typed_config.cluster;
  assert.equal(cluster, 'outbound|9000||db.cli.svc.cluster.local');
});

test('a gateway merges VirtualServices private to its namespace, then exported to it, then public (VirtualServicesForGateway)', () => {
  const gatewayVs = (name: string, ns: string, status: number, exportTo: string, created: string) => `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: ${ns}, creationTimestamp: "${created}"}
spec:
  hosts: [shop.example.com]
  gateways: [istio-system/gw]
  exportTo: ${exportTo}
  http: [{directResponse: {status: ${status}}}]
`;
  const statusOn = (yaml: string) => {
    const { resources, diagnostics } = loadText(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*/shop.example.com"]}]
${yaml}`);
    assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
    const rc = buildProxyResources(buildSnapshot(resources, [], '1'), ingressGatewayView).get(TypeUrl.RouteConfiguration)?.get('http.8080') as EnvoyRouteConfiguration;
    return rc.virtual_hosts?.find((v) => v.domains?.includes('shop.example.com'))?.routes?.[0]?.direct_response?.status;
  };
  const oldPublic = gatewayVs('a', 'pub', 500, '["*"]', '2024-01-01T00:00:00Z');
  assert.equal(statusOn(`${oldPublic}${gatewayVs('mine', 'istio-system', 201, '["."]', '2025-01-01T00:00:00Z')}`), 201);
  assert.equal(statusOn(`${oldPublic}${gatewayVs('named', 'other', 202, '[istio-system]', '2025-01-01T00:00:00Z')}`), 202);
  assert.equal(statusOn(`${oldPublic}${gatewayVs('pub2', 'b', 203, '["*"]', '2025-01-01T00:00:00Z')}`), 500);
});
