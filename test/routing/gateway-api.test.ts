// Simulation tests for the Gateway API (docs/gateway-api.md): HTTPRoutes with a Service parent (mesh
// routing, GAMMA) loaded from YAML, converted, translated for a sidecar and explained: the decision out.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import { explain } from '../../src/explain/explain.ts';
import { OfflineSource } from '../../src/explain/offline-source.ts';
import { parseExplainRequest } from '../../src/explain/parse-request.ts';

/** `shop`: a client, and `web` served by two Deployments, each also behind a Service of its own. */
const mesh = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
${['v1', 'v2']
  .map(
    (v) => `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-${v}, namespace: shop}
spec:
  selector: {matchLabels: {app: web, version: ${v}}}
  template:
    metadata: {labels: {app: web, version: ${v}}}
    spec: {containers: [{name: web, image: ghcr.io/stefanprodan/podinfo:6.5.3, ports: [{containerPort: 9898}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-${v}, namespace: shop}
spec: {selector: {app: web, version: ${v}}, ports: [{name: http, port: 9898}]}
`,
  )
  .join('')}---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: [{name: http, port: 9898}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: shop}
spec:
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec: {containers: [{name: client, image: curlimages/curl}]}
`;

function source(routes: string): OfflineSource {
  const { resources, diagnostics } = loadText(`${mesh}---\n${routes}`, 'routes.yaml');
  assert.deepEqual(
    diagnostics.filter((d) => d.severity !== 'info'),
    [],
  );
  return new OfflineSource(resources);
}

async function decide(src: OfflineSource, to: string, headers: string[] = [], method = 'GET', draw = 0) {
  const t = await explain(src, { from: 'client', request: parseExplainRequest(to, headers, method), random: () => draw });
  return t.source.route;
}

const V1 = 'outbound|9898||web-v1.shop.svc.cluster.local';
const V2 = 'outbound|9898||web-v2.shop.svc.cluster.local';

const route = (rules: string, name = 'web') => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ${name}, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: web, port: 9898}]
  rules:
${rules}`;

test('an HTTPRoute with a Service parent splits the service by backend weights', async () => {
  const src = source(
    route(`  - backendRefs:
    - {name: web-v1, port: 9898, weight: 90}
    - {name: web-v2, port: 9898, weight: 10}
`),
  );
  const low = await decide(src, 'http://web.shop:9898/', [], 'GET', 0.5);
  assert.deepEqual(low?.clusters.map((c) => [c.name, c.weight]), [
    [V1, 90],
    [V2, 10],
  ]);
  assert.equal(low?.cluster, V1);
  assert.equal((await decide(src, 'http://web.shop:9898/', [], 'GET', 0.95))?.cluster, V2);
});

test('header, query, method and path matches pick the rule; PathPrefix matches whole segments only', async () => {
  const src = source(
    route(`  - matches: [{headers: [{name: X-Canary, value: "true"}]}]
    backendRefs: [{name: web-v2, port: 9898}]
  - matches: [{queryParams: [{name: beta, type: RegularExpression, value: "y.*"}]}, {method: DELETE}]
    backendRefs: [{name: web-v2, port: 9898}]
  - matches: [{path: {type: PathPrefix, value: /api/}}]
    backendRefs: [{name: web-v2, port: 9898}]
  - backendRefs: [{name: web-v1, port: 9898}]
`),
  );
  assert.equal((await decide(src, 'http://web.shop:9898/', ['x-canary: true']))?.cluster, V2);
  assert.equal((await decide(src, 'http://web.shop:9898/', ['x-canary: no']))?.cluster, V1);
  assert.equal((await decide(src, 'http://web.shop:9898/?beta=yes'))?.cluster, V2);
  assert.equal((await decide(src, 'http://web.shop:9898/', [], 'DELETE'))?.cluster, V2);
  assert.equal((await decide(src, 'http://web.shop:9898/api'))?.cluster, V2);
  assert.equal((await decide(src, 'http://web.shop:9898/api/users'))?.cluster, V2);
  assert.equal((await decide(src, 'http://web.shop:9898/apiary'))?.cluster, V1);
});

test("route precedence follows the API, not the order rules are written in: exact, then the longest prefix, then method, headers, query", async () => {
  // Written least specific first, and across two routes.
  const src = source(
    `${route(`  - backendRefs: [{name: web-v1, port: 9898}]
  - matches: [{path: {type: PathPrefix, value: /a}}]
    backendRefs: [{name: web-v1, port: 9898}]
`, 'aaa-general')}---
${route(`  - matches: [{path: {type: PathPrefix, value: /a/b}}]
    backendRefs: [{name: web-v2, port: 9898}]
  - matches: [{path: {type: Exact, value: /a}}]
    backendRefs: [{name: web-v2, port: 9898}]
  - matches: [{path: {type: PathPrefix, value: /}, headers: [{name: x-v, value: "2"}]}]
    backendRefs: [{name: web-v2, port: 9898}]
`, 'zzz-specific')}`,
  );
  assert.equal((await decide(src, 'http://web.shop:9898/a/b/c'))?.cluster, V2, 'longest prefix wins');
  assert.equal((await decide(src, 'http://web.shop:9898/a/x'))?.cluster, V1);
  assert.equal((await decide(src, 'http://web.shop:9898/a'))?.cluster, V2, 'exact before prefix');
  assert.equal((await decide(src, 'http://web.shop:9898/', ['x-v: 2']))?.cluster, V2, 'a header match before the bare catch-all');
  assert.equal((await decide(src, 'http://web.shop:9898/'))?.cluster, V1);
});

test('filters: header modifiers, rewrites, redirects, mirrors and timeouts become the route policies', async () => {
  const src = source(
    route(`  - matches: [{path: {type: PathPrefix, value: /old}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}, statusCode: 301}
  - matches: [{path: {type: PathPrefix, value: /v1}}]
    filters:
    - type: URLRewrite
      urlRewrite: {hostname: web.internal, path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-route, value: gateway-api}], remove: [x-drop]}
    - type: RequestMirror
      requestMirror: {backendRef: {name: web-v2, port: 9898}, percent: 50}
    backendRefs: [{name: web-v1, port: 9898}]
    timeouts: {request: 3s, backendRequest: 1s}
  - matches: [{path: {type: Exact, value: /full}}]
    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /replaced}}}]
    backendRefs: [{name: web-v1, port: 9898}]
`),
  );
  const redirect = await explain(src, { from: 'client', request: parseExplainRequest('http://web.shop:9898/old/page'), random: () => 0 });
  assert.equal(redirect.source.route?.kind, 'redirect');
  assert.equal(redirect.outcome.status, 301);
  const exactRedirect = await decide(src, 'http://web.shop:9898/old');
  assert.equal(exactRedirect?.kind, 'redirect');

  const rewritten = await decide(src, 'http://web.shop:9898/v1/items?q=1');
  assert.equal(rewritten?.upstreamPath, '/v2/items?q=1');
  assert.equal(rewritten?.upstreamAuthority, 'web.internal');
  // Istio: without a retry stanza, backendRequest is the route's timeout (retries keep the mesh default).
  assert.equal(rewritten?.timeoutMs, 1000);
  assert.equal(rewritten?.retries?.perTryTimeoutMs, 0);
  assert.equal((await decide(src, 'http://web.shop:9898/v1'))?.upstreamPath, '/v2');
  assert.equal((await decide(src, 'http://web.shop:9898/full'))?.upstreamPath, '/replaced');
});

test('a backend that does not exist, or is in another namespace without a ReferenceGrant, leaves a 500', async () => {
  const src = source(
    route(`  - matches: [{path: {type: PathPrefix, value: /missing}}]
    backendRefs: [{name: nowhere, port: 9898}]
  - matches: [{path: {type: PathPrefix, value: /other}}]
    backendRefs: [{name: web-v2, namespace: other, port: 9898}]
  - backendRefs: [{name: web-v1, port: 9898}]
`),
  );
  for (const path of ['/missing', '/other']) {
    const t = await explain(src, { from: 'client', request: parseExplainRequest(`http://web.shop:9898${path}`), random: () => 0 });
    assert.equal(t.source.route?.kind, 'direct_response', path);
    assert.equal(t.outcome.status, 500, path);
  }
  assert.equal((await decide(src, 'http://web.shop:9898/'))?.cluster, V1);
});

test('a ReferenceGrant in the backend namespace lets a route send there, to the kinds and names it grants', async () => {
  const other = `apiVersion: v1
kind: Service
metadata: {name: web-v2, namespace: other}
spec: {selector: {app: web, version: v2}, ports: [{name: http, port: 9898}]}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: shop-routes, namespace: other}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: shop}]
  to: [{group: "", kind: Service, name: web-v2}]
---
`;
  const src = source(
    `${other}${route(`  - matches: [{path: {type: PathPrefix, value: /other}}]
    backendRefs: [{name: web-v2, namespace: other, port: 9898}]
  - backendRefs: [{name: web-v1, port: 9898}]
`)}`,
  );
  assert.equal((await decide(src, 'http://web.shop:9898/other'))?.cluster, 'outbound|9898||web-v2.other.svc.cluster.local');
});

test('docs/gateway-api.md: every example loads clean, and the mesh example routes as the page says', async () => {
  const page = readFileSync(path.join(import.meta.dirname, '../../docs/gateway-api.md'), 'utf8');
  const blocks = [...page.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  assert.ok(blocks.length >= 3);
  for (const yaml of blocks) assert.deepEqual(loadText(yaml, 'docs.yaml').diagnostics, [], yaml);
  const src = source(blocks[0] as string);
  assert.equal((await decide(src, 'http://web.shop:9898/', ['x-canary: true']))?.cluster, V2);
  const rewritten = await decide(src, 'http://web.shop:9898/v2/version');
  assert.equal(rewritten?.cluster, V2);
  assert.equal(rewritten?.upstreamPath, '/version');
  assert.deepEqual(
    (await decide(src, 'http://web.shop:9898/'))?.clusters.map((c) => [c.name, c.weight]),
    [
      [V1, 90],
      [V2, 10],
    ],
  );
});

test('a GRPCRoute routes by gRPC service and method, as an HTTPRoute of their paths', async () => {
  const src = source(`apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: web-grpc, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: web, port: 9898}]
  rules:
  - matches: [{method: {service: shop.Greeter, method: SayHello}}]
    backendRefs: [{name: web-v2, port: 9898}]
  - matches: [{method: {method: Watch}}]
    backendRefs: [{name: web-v2, port: 9898}]
  - matches: [{method: {type: RegularExpression, service: "shop\\\\.Admin.*"}}]
    backendRefs: [{name: web-v2, port: 9898}]
  - backendRefs: [{name: web-v1, port: 9898}]
`);
  const grpc = ['content-type: application/grpc'];
  assert.equal((await decide(src, 'http://web.shop:9898/shop.Greeter/SayHello', grpc, 'POST'))?.cluster, V2);
  assert.equal((await decide(src, 'http://web.shop:9898/shop.Greeter/SayGoodbye', grpc, 'POST'))?.cluster, V1);
  assert.equal((await decide(src, 'http://web.shop:9898/other.Feed/Watch', grpc, 'POST'))?.cluster, V2);
  assert.equal((await decide(src, 'http://web.shop:9898/shop.AdminV2/Reset', grpc, 'POST'))?.cluster, V2);
  assert.equal((await decide(src, 'http://web.shop:9898/shop.Greeterx/SayHello', grpc, 'POST'))?.cluster, V1);
});

/** `db` on 5432, and `db-v1`, `db-v2` each on a port of its own: a TCP listener tells services apart by port alone. */
function tcpSource(rules: string): OfflineSource {
  const db = (v: string, port: number) => `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db-${v}, namespace: shop}
spec:
  selector: {matchLabels: {app: db, version: ${v}}}
  template:
    metadata: {labels: {app: db, version: ${v}}}
    spec: {containers: [{name: db, image: ghcr.io/stefanprodan/podinfo:6.5.3, ports: [{containerPort: 5432}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: db-${v}, namespace: shop}
spec: {selector: {app: db, version: ${v}}, ports: [{name: tcp-db, port: ${port}, targetPort: 5432}]}
`;
  return source(`apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {selector: {app: db}, ports: [{name: tcp-db, port: 5432}]}
${db('v1', 5433)}${db('v2', 5434)}---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: db, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: db, port: 5432}]
  rules:
${rules}`);
}

/** A client's TCP connection to `db.shop:5432`, with the load balancer's draw. */
const connectDb = (src: OfflineSource, draw = 0) => explain(src, { from: 'client', request: parseExplainRequest('http://db.shop:5432/'), random: () => draw });

test('a TCPRoute with a Service parent sends that port\'s connections to its backend', async () => {
  const t = await connectDb(tcpSource('  - backendRefs: [{name: db-v2, port: 5434}]\n'));
  assert.deepEqual(
    t.endpoints.map((e) => e.workload),
    ['db-v2-0.shop'],
  );
});

test('a TCPRoute rule whose backends are all invalid refuses the connections, not the parent Service', async () => {
  for (const ref of ['{name: nowhere, port: 5434}', '{name: db-v2, namespace: other, port: 5434}']) {
    const t = await connectDb(tcpSource(`  - backendRefs: [${ref}]\n  - backendRefs: [{name: db-v1, port: 5433}]\n`));
    assert.deepEqual(t.endpoints, [], ref);
    assert.equal(t.outcome.flag, 'NC', ref);
    assert.match(t.outcome.detail, /cluster outbound\|5434\|\|(nowhere\.shop|db-v2\.other)\.backend\.invalid not found/, ref);
  }
  // No backend of weight above 0: refused too.
  const t = await connectDb(tcpSource('  - backendRefs: [{name: db-v2, port: 5434, weight: 0}]\n'));
  assert.deepEqual(t.endpoints, []);
  assert.match(t.outcome.detail, /cluster outbound\|5432\|\|none\.backend\.invalid not found/);
});

test('a TCPRoute\'s invalid backend keeps its share of the split, and that share is refused', async () => {
  const src = tcpSource('  - backendRefs: [{name: db-v2, port: 5434, weight: 3}, {name: nowhere, port: 5434, weight: 1}]\n');
  assert.deepEqual(
    (await connectDb(src, 0.7)).endpoints.map((e) => e.workload),
    ['db-v2-0.shop'],
  );
  const refused = await connectDb(src, 0.8);
  assert.deepEqual(refused.endpoints, []);
  assert.match(refused.outcome.detail, /nowhere\.shop\.backend\.invalid not found/);
});

test("a consumer route (in the client's namespace) takes precedence over the producer's for that namespace's clients only", async () => {
  const zoo = `apiVersion: v1
kind: Namespace
metadata: {name: zoo, labels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: visitor, namespace: zoo}
spec:
  selector: {matchLabels: {app: visitor}}
  template:
    metadata: {labels: {app: visitor}}
    spec: {containers: [{name: visitor, image: curlimages/curl}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: zoo-view, namespace: zoo}
spec:
  parentRefs: [{group: "", kind: Service, name: web, namespace: shop}]
  rules: [{backendRefs: [{name: web-v2, namespace: shop, port: 9898}]}]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: zoo, namespace: shop}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: zoo}]
  to: [{group: "", kind: Service}]
---
`;
  const src = source(`${zoo}${route(`  - backendRefs: [{name: web-v1, port: 9898}]
`)}`);
  const from = async (client: string) =>
    (await explain(src, { from: client, request: parseExplainRequest('http://web.shop:9898/'), random: () => 0 })).source.route?.cluster;
  assert.equal(await from('visitor'), V2);
  assert.equal(await from('client'), V1);
});

test("an invalid backend keeps its share of a split, and that share is answered 500", async () => {
  const src = source(
    route(`  - backendRefs:
    - {name: web-v1, port: 9898}
    - {name: nowhere, port: 9898}
`),
  );
  const at = (draw: number) => explain(src, { from: 'client', request: parseExplainRequest('http://web.shop:9898/'), random: () => draw });
  const valid = await at(0.25);
  assert.equal(valid.source.route?.cluster, V1);
  const invalid = await at(0.75);
  assert.equal(invalid.source.route?.cluster, 'outbound|9898||nowhere.shop.backend.invalid');
  assert.equal(invalid.outcome.status, 500);
});
