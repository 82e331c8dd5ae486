// Backends as Istio's buildDestination resolves them (backends.ts): a ReferenceGrant is needed only at a
// Gateway (Istio converts mesh routes with enforceRefGrant = !mesh), and a `networking.istio.io`
// Hostname or a ServiceImport is a backend besides a Service.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runAnalyzers } from '../../analysis/run.ts';
import { loadText } from '../../config/load.ts';
import type { VirtualService } from '../../config/resource.ts';
import { convertGatewayApi } from './convert.ts';

function load(yaml: string) {
  const { resources, diagnostics } = loadText(yaml, 'routes.yaml');
  assert.deepEqual(diagnostics, []);
  return resources;
}

const convert = (yaml: string) => convertGatewayApi(load(yaml)).filter((r): r is VirtualService => r.kind === 'VirtualService');

const services = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: other}
spec: {selector: {app: api}, ports: [{name: http, port: 80}]}
---
`;

const gateway = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
`;

test('in the mesh a backend (and mirror) of another namespace needs no ReferenceGrant; at a Gateway it does', () => {
  const route = (parent: string, kind = 'HTTPRoute', apiVersion = 'v1') => `apiVersion: gateway.networking.k8s.io/${apiVersion}
kind: ${kind}
metadata: {name: to-other, namespace: shop}
spec:
  parentRefs: [${parent}]
  rules:
  - ${kind === 'HTTPRoute' ? 'filters: [{type: RequestMirror, requestMirror: {backendRef: {name: api, namespace: other, port: 80}}}]\n    ' : ''}backendRefs: [{name: api, namespace: other, port: 80}]
`;
  const mesh = '{group: "", kind: Service, name: web}';
  const http = convert(services + route(mesh))[0]?.spec.http?.[0];
  assert.equal(http?.directResponse, undefined);
  assert.deepEqual(http?.route?.map((d) => d.destination), [{ host: 'api.other.svc.cluster.local', port: { number: 80 } }]);
  assert.deepEqual(http?.mirrors?.map((m) => m.destination.host), ['api.other.svc.cluster.local']);
  assert.equal(convert(services + route(mesh, 'GRPCRoute'))[0]?.spec.http?.[0]?.route?.[0]?.destination.host, 'api.other.svc.cluster.local');
  const tcp = convert(services + route('{group: "", kind: Service, name: web, port: 80}', 'TCPRoute', 'v1alpha2'))[0]?.spec.tcp?.[0];
  assert.deepEqual(tcp?.route?.map((d) => d.destination.host), ['api.other.svc.cluster.local']);

  const atGateway = convert(services + gateway + route('{name: gw}'))[0]?.spec.http?.[0];
  assert.deepEqual(atGateway?.directResponse, { status: 500 });
});

test('analyze reports the missing ReferenceGrant (OR2010) for a route at a Gateway only', () => {
  const route = (parent: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: to-other, namespace: shop}
spec:
  parentRefs: [${parent}]
  rules: [{backendRefs: [{name: api, namespace: other, port: 80}]}]
`;
  const or2010 = (yaml: string) =>
    runAnalyzers(load(yaml))
      .filter((d) => d.code === 'OR2010')
      .map((d) => d.field);
  assert.deepEqual(or2010(services + route('{group: "", kind: Service, name: web}')), []);
  assert.deepEqual(or2010(services + gateway + route('{name: gw}')), ['spec.rules[0].backendRefs[0]']);
});

test('a Hostname backend (networking.istio.io) routes to that host; a ServiceImport to the Service of its name', () => {
  const entry = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: shop}
spec: {hosts: [api.example.com], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS, location: MESH_EXTERNAL}
---
`;
  const route = (ref: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: web}]
  rules: [{backendRefs: [${ref}]}]
`;
  const destination = (yaml: string) => convert(yaml)[0]?.spec.http?.[0]?.route?.[0]?.destination;
  assert.deepEqual(destination(services + entry + route('{group: networking.istio.io, kind: Hostname, name: api.example.com, port: 80}')), {
    host: 'api.example.com',
    port: { number: 80 },
  });
  assert.deepEqual(destination(services + route('{group: multicluster.x-k8s.io, kind: ServiceImport, name: web, port: 80}')), {
    host: 'web.shop.svc.cluster.local',
    port: { number: 80 },
  });
  // A host no Service or ServiceEntry has is an invalid backend: the rule answers 500.
  const unknown = convert(services + route('{group: networking.istio.io, kind: Hostname, name: nowhere.example.com, port: 80}'))[0]?.spec.http?.[0];
  assert.deepEqual(unknown?.directResponse, { status: 500 });
});

test("a Hostname backend names a host of the route's own namespace only: another namespace's Service or ServiceEntry host is not found (LookupHostname), so no ReferenceGrant is bypassed", () => {
  const entry = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: partner, namespace: other}
spec: {hosts: [partner.example.com], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS, location: MESH_EXTERNAL}
---
`;
  const route = (namespace: string, parent: string, host: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: ${namespace}}
spec:
  parentRefs: [${parent}]
  rules: [{backendRefs: [{group: networking.istio.io, kind: Hostname, name: ${host}, port: 80}]}]
`;
  const first = (yaml: string) => convert(yaml)[0]?.spec.http?.[0];
  for (const host of ['api.other.svc.cluster.local', 'partner.example.com']) {
    assert.deepEqual(first(services + entry + gateway + route('shop', '{name: gw}', host))?.directResponse, { status: 500 }, host);
    assert.deepEqual(first(services + entry + route('shop', '{group: "", kind: Service, name: web}', host))?.directResponse, { status: 500 }, host);
    // From a route of the host's own namespace it is a backend.
    assert.deepEqual(first(services + entry + route('other', '{group: "", kind: Service, name: api}', host))?.route?.[0]?.destination, { host, port: { number: 80 } });
  }
  assert.deepEqual(
    runAnalyzers(load(services + entry + gateway + route('shop', '{name: gw}', 'partner.example.com')))
      .filter((d) => d.code === 'IST0101')
      .map((d) => [d.field, d.message]),
    [['spec.rules[0].backendRefs[0]', 'Referenced resource not found: backendRef Hostname partner.example.com: no Service or ServiceEntry of namespace shop has that host']],
  );
});

test('a backendRef without a port (Hostname, ServiceImport) leaves the whole route unconverted for those parents, as Istio ("port is required in backendRef")', () => {
  const entry = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: shop}
spec: {hosts: [api.example.com], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS, location: MESH_EXTERNAL}
---
`;
  const route = (kind: string, ref: string, extra = '') => `apiVersion: gateway.networking.k8s.io/${kind === 'TCPRoute' ? 'v1alpha2' : 'v1'}
kind: ${kind}
metadata: {name: r, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: web${kind === 'TCPRoute' ? ', port: 80' : ''}}]
  rules:
  - backendRefs: [{name: web, port: 80}]
  - backendRefs: [${ref}]${extra}
`;
  const hostname = '{group: networking.istio.io, kind: Hostname, name: api.example.com}';
  // Every rule is dropped, the valid one too: no VirtualService at all (the Service's own routing applies).
  assert.deepEqual(convert(services + entry + route('HTTPRoute', hostname)), []);
  assert.deepEqual(convert(services + entry + route('HTTPRoute', '{group: multicluster.x-k8s.io, kind: ServiceImport, name: web}')), []);
  assert.deepEqual(convert(services + entry + route('GRPCRoute', hostname)), []);
  assert.deepEqual(convert(services + entry + route('TCPRoute', hostname)), []);
  // So does a Service named by its hostname ("service name invalid"), another of buildDestination's hard errors.
  assert.deepEqual(convert(services + entry + route('HTTPRoute', '{name: web.shop.svc.cluster.local, port: 80}')), []);
  // A ref of weight 0 is never built; one with a port routes.
  assert.equal(convert(services + entry + route('HTTPRoute', `{group: networking.istio.io, kind: Hostname, name: api.example.com, weight: 0}, {name: web, port: 80}`)).length, 1);
  // An HTTPRoute mirror without a port is dropped, not the route (convertHTTPRoute keeps the route on a
  // mirror error); a GRPCRoute's drops the route (convertGRPCRoute returns none).
  const mirror = `\n    filters: [{type: RequestMirror, requestMirror: {backendRef: ${hostname}}}]`;
  const http = convert(services + entry + route('HTTPRoute', '{name: web, port: 80}', mirror))[0]?.spec.http;
  assert.equal(http?.length, 2);
  assert.equal(http?.some((h) => h.mirrors), false);
  assert.deepEqual(convert(services + entry + route('GRPCRoute', '{name: web, port: 80}', mirror)), []);
  assert.deepEqual(
    runAnalyzers(load(services + entry + route('HTTPRoute', hostname)))
      .filter((d) => d.code === 'OR2010')
      .map((d) => [d.field, d.message]),
    [['spec.rules[1].backendRefs[0]', "backendRef Hostname api.example.com: port is required in backendRef; none of the route's rules is converted"]],
  );
});

test('a Hostname backend with a namespace leaves the route unconverted, as Istio; one to another namespace without a ReferenceGrant at a Gateway is an invalid backend first', () => {
  const route = (parent: string, namespace: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: shop}
spec:
  parentRefs: [${parent}]
  rules: [{backendRefs: [{group: networking.istio.io, kind: Hostname, name: web.shop.svc.cluster.local, namespace: ${namespace}, port: 80}]}]
`;
  assert.deepEqual(convert(services + route('{group: "", kind: Service, name: web}', 'shop')), []);
  assert.deepEqual(convert(services + gateway + route('{name: gw}', 'other'))[0]?.spec.http?.[0]?.directResponse, { status: 500 });
});

const analyzeBackends = (yaml: string) =>
  runAnalyzers(load(yaml))
    .filter((d) => d.code === 'OR2010' || d.code === 'IST0101')
    .map((d) => [d.code, d.field, d.message]);

test('a route with Gateway and Service parents: a backend only the grant refuses at the Gateway drops every rule for the mesh parents, and analyze says both', () => {
  const route = (ref: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: shop}
spec:
  parentRefs: [{name: gw}, {group: "", kind: Service, name: web, port: 80}]
  rules:
  - backendRefs: [{name: web, port: 80, weight: 9}, ${ref}]
`;
  const grant = "is in another namespace, and no ReferenceGrant in other lets HTTPRoutes of shop refer to it; in the mesh, backendRef";
  for (const [ref, inMesh] of [
    ['{name: api.other.svc.cluster.local, namespace: other, port: 80, weight: 1}', 'Service api.other.svc.cluster.local: service name invalid; the name of the Service must be used, not the hostname.'],
    ['{group: networking.istio.io, kind: Hostname, name: api.other.svc.cluster.local, namespace: other, port: 80, weight: 1}', 'Hostname api.other.svc.cluster.local: namespace may not be set with Hostname type'],
  ] as const) {
    // The Gateway's VirtualService keeps the route (the ref's share answered 500); the Service's gets nothing.
    const vss = convert(services + gateway + route(ref));
    assert.deepEqual(vss.map((vs) => vs.spec.gateways), [['shop/gw-istio-autogenerated-k8s-gateway-http']], ref);
    const kind = ref.includes('Hostname') ? 'Hostname' : 'Service';
    assert.deepEqual(analyzeBackends(services + gateway + route(ref)), [
      ['OR2010', 'spec.rules[0].backendRefs[1]', `backendRef ${kind} other/api.other.svc.cluster.local ${grant} ${inMesh}; the route's mesh parents get none of its rules`],
    ]);
  }
});

test("a GRPCRoute mirror that names no backend drops the route, and analyze says so; an HTTPRoute's drops the mirror only", () => {
  const route = (kind: string, name: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: ${kind}
metadata: {name: r, namespace: shop}
spec:
  parentRefs: [{name: gw}]
  rules:
  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: ${name}, port: 80}}}]
    backendRefs: [{name: web, port: 80}]
`;
  assert.deepEqual(convert(services + gateway + route('GRPCRoute', 'missing')), []);
  assert.deepEqual(analyzeBackends(services + gateway + route('GRPCRoute', 'missing')), [
    ['IST0101', 'spec.rules[0].filters[0].requestMirror.backendRef', "Referenced resource not found: backendRef Service shop/missing does not exist; none of the route's rules is converted"],
  ]);
  assert.equal(convert(services + gateway + route('HTTPRoute', 'web.shop.svc.cluster.local')).length, 1);
  assert.deepEqual(analyzeBackends(services + gateway + route('HTTPRoute', 'web.shop.svc.cluster.local')), [
    ['OR2010', 'spec.rules[0].filters[0].requestMirror.backendRef', 'backendRef Service web.shop.svc.cluster.local: service name invalid; the name of the Service must be used, not the hostname.'],
  ]);
});

test('a backendRef of weight 0 is never built (Istio: buildHTTPDestination skips it), so analyze says nothing of it', () => {
  const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: shop}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /b}}]
    backendRefs: [{name: web, port: 80}, {group: networking.istio.io, kind: Hostname, name: api.other.svc.cluster.local, weight: 0}]
  - matches: [{path: {type: PathPrefix, value: /c}}]
    backendRefs: [{name: missing, port: 80, weight: 0}]
`;
  assert.equal(convert(services + gateway + route).length, 1);
  assert.deepEqual(analyzeBackends(services + gateway + route), []);
});
