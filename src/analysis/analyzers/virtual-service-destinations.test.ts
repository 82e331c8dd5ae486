// VirtualService destinations as Istio's DestinationHostAnalyzer and DestinationRuleAnalyzer see them:
// hosts by visibility (exportTo), ports, subsets, IST0140, and Istio's message texts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { runAnalyzers } from '../run.ts';

const messages = (yaml: string, code: string) =>
  runAnalyzers(loadText(yaml, 'vs.yaml').resources)
    .filter((d) => d.code === code)
    .map((d) => `${d.resource}: ${d.message}`);

const reviews = (ports: string, annotations = '') => `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop${annotations}}
spec:
  selector: {app: reviews}
  ports: ${ports}
---
`;

const vs = (namespace: string, destination: string, extra = '') => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: ${namespace}}
spec:
  hosts: [reviews.shop.svc.cluster.local]
  http:
  - route: [{destination: ${destination}}]${extra}
---
`;

test('IST0101: a destination port the service does not expose (checkServiceEntryPorts)', () => {
  const yaml = reviews('[{name: http, port: 9080}]') + vs('shop', '{host: reviews, port: {number: 8080}}');
  assert.deepEqual(messages(yaml, 'IST0101'), ['VirtualService shop/reviews: Referenced host:port not found: "reviews:8080"']);
  assert.deepEqual(messages(reviews('[{name: http, port: 9080}]') + vs('shop', '{host: reviews, port: {number: 9080}}'), 'IST0101'), []);
});

test('IST0112 names the host as written and the ports as Istio prints them', () => {
  const yaml = reviews('[{name: http, port: 9080}, {name: grpc, port: 9090}]') + vs('shop', '{host: reviews}');
  assert.deepEqual(messages(yaml, 'IST0112'), [
    'VirtualService shop/reviews: This VirtualService routes to a service "reviews" that exposes multiple ports [9080 9090]. Specifying a port in the destination is required to disambiguate.',
  ]);
});

test('IST0101: a host is found only where it is exported (ServiceEntry exportTo, Service annotation)', () => {
  const se = (exportTo: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: a}
spec:
  hosts: [api.example.com]
  exportTo: ${exportTo}
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
---
`;
  const from = (ns: string) => vs(ns, '{host: api.example.com}');
  assert.deepEqual(messages(se('["."]') + from('b'), 'IST0101'), ['VirtualService b/reviews: Referenced host not found: "api.example.com"']);
  assert.deepEqual(messages(se('["."]') + from('a'), 'IST0101'), []);
  assert.deepEqual(messages(se('["*"]') + from('b'), 'IST0101'), []);
  const local = reviews('[{name: http, port: 9080}]', ', annotations: {networking.istio.io/exportTo: "."}');
  assert.deepEqual(messages(local + vs('b', '{host: reviews.shop.svc.cluster.local}'), 'IST0101'), [
    'VirtualService b/reviews: Referenced host not found: "reviews.shop.svc.cluster.local"',
  ]);
  assert.deepEqual(messages(local + vs('shop', '{host: reviews}'), 'IST0101'), []);
});

test('IST0101: mirror hosts say "mirror host"; a subset is named with the host as written', () => {
  const yaml = reviews('[{name: http, port: 9080}]') + vs('shop', '{host: reviews, subset: v2}', '\n    mirror: {host: shadow}');
  assert.deepEqual(messages(yaml, 'IST0101').sort(), [
    'VirtualService shop/reviews: Referenced host+subset in destinationrule not found: "reviews+v2"',
    'VirtualService shop/reviews: Referenced mirror host not found: "shadow"',
  ]);
});

test('IST0140: a gateway route without subset to a host whose mesh VirtualService picks subsets', () => {
  const yaml = `${reviews('[{name: http, port: 9080}]')}apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: mesh-vs, namespace: shop}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: v1}}]}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["reviews.example.com"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ingress-vs, namespace: shop}
spec:
  hosts: [reviews.example.com]
  gateways: [gw]
  http: [{route: [{destination: {host: reviews}}]}]
`;
  assert.deepEqual(messages(yaml, 'IST0140'), [
    'VirtualService shop/ingress-vs: Subset in virtual service shop/mesh-vs has no effect on ingress gateway shop/ingress-vs requests',
  ]);
});

test('IST0101: a ServiceEntry exported to a list of namespaces is visible in each (util.InitServiceEntryHostMap)', () => {
  const se = (host: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: a}
spec:
  hosts: ["${host}"]
  exportTo: [".", "b"]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: NONE
---
`;
  const from = (ns: string) => vs(ns, '{host: api.example.com}');
  assert.deepEqual(messages(se('api.example.com') + from('a') + from('b'), 'IST0101'), []);
  assert.deepEqual(messages(se('api.example.com') + from('c'), 'IST0101'), ['VirtualService c/reviews: Referenced host not found: "api.example.com"']);
  // The wildcard fallback sees the same scopes.
  assert.deepEqual(messages(se('*.example.com') + from('b'), 'IST0101'), []);
  assert.deepEqual(messages(se('*.example.com') + from('c'), 'IST0101'), ['VirtualService c/reviews: Referenced host not found: "api.example.com"']);
});
