// Simulation tests for Gateway API Gateways (docs/gateway-api.md): the gateway proxy `outrigger up`
// deploys for a Gateway of class istio, and which HTTPRoutes its listeners admit: allowedRoutes,
// sectionName, and the hostnames a route and a listener share. YAML in, the gateway's decision out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import { explain } from '../../src/explain/explain.ts';
import { OfflineSource } from '../../src/explain/offline-source.ts';
import { parseExplainRequest } from '../../src/explain/parse-request.ts';

const base = `apiVersion: v1
kind: Namespace
metadata: {name: team, labels: {shared-gateway: "yes"}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: edge}
spec: {selector: {app: web}, ports: [{name: http, port: 9898}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: team}
spec: {selector: {app: api}, ports: [{name: http, port: 8080}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: edge}
spec:
  gatewayClassName: istio
  listeners:
  - {name: web, port: 80, protocol: HTTP, hostname: "*.example.com"}
  - name: shared
    port: 8000
    protocol: HTTP
    allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {shared-gateway: "yes"}}}}
---
`;

function source(routes: string): OfflineSource {
  const { resources, diagnostics } = loadText(base + routes, 'gateway.yaml');
  assert.deepEqual(
    diagnostics.filter((d) => d.severity !== 'info'),
    [],
  );
  return new OfflineSource(resources);
}

async function decide(src: OfflineSource, url: string) {
  const t = await explain(src, { from: 'public-istio', request: parseExplainRequest(url), random: () => 0 });
  return { cluster: t.source.route?.cluster, status: t.outcome.status };
}

const WEB = 'outbound|9898||web.edge.svc.cluster.local';
const API = 'outbound|8080||api.team.svc.cluster.local';

test('a listener hostname and the route hostnames: the narrower of each pair that intersects', async () => {
  const src = source(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: edge}
spec:
  parentRefs: [{name: public, sectionName: web}]
  hostnames: [shop.example.com, shop.example.org]
  rules: [{backendRefs: [{name: web, port: 9898}]}]
`);
  assert.equal((await decide(src, 'http://shop.example.com/')).cluster, WEB);
  assert.equal((await decide(src, 'http://other.example.com/')).status, 404);
  assert.equal((await decide(src, 'http://shop.example.org/')).status, 404);
});

test('allowedRoutes: the default admits routes of the Gateway\'s namespace only; a selector admits labelled namespaces', async () => {
  const src = source(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api, namespace: team}
spec:
  parentRefs: [{name: public, namespace: edge}]
  hostnames: [api.example.com]
  rules: [{backendRefs: [{name: api, port: 8080}]}]
`);
  // Not on the `web` listener (from: Same), but on `shared` (the team namespace is labelled).
  assert.equal((await decide(src, 'http://api.example.com/')).status, 404);
  assert.equal((await decide(src, 'http://api.example.com:8000/')).cluster, API);
});

test('a TCP listener takes the connections of the TCPRoutes attached to it', async () => {
  const src = source(`apiVersion: v1
kind: Service
metadata: {name: db, namespace: edge}
spec: {selector: {app: db}, ports: [{name: tcp-db, port: 5432}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: tcp, namespace: edge}
spec:
  gatewayClassName: istio
  listeners: [{name: postgres, port: 5432, protocol: TCP}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: db, namespace: edge}
spec:
  parentRefs: [{name: tcp, sectionName: postgres}]
  rules: [{backendRefs: [{name: db, port: 5432}]}]
`);
  const t = await explain(src, { from: 'tcp-istio', request: parseExplainRequest('http://db.example.com:5432/'), random: () => 0 });
  assert.equal(t.source.listener, '0.0.0.0_5432');
  // The route's backend (which has no pods here: the outcome names the cluster it would take).
  assert.match(t.outcome.detail, /outbound\|5432\|\|db\.edge\.svc\.cluster\.local/);
});

test("a same-named Gateway in another namespace does not reach this namespace's gateway proxy", async () => {
  // A tenant's Gateway `public` in its own namespace, with a route for edge's own host. Istio deploys it
  // a proxy of its own; edge's `public-istio` keeps serving edge's routes only.
  const src = source(`apiVersion: v1
kind: Namespace
metadata: {name: aaa}
---
apiVersion: v1
kind: Service
metadata: {name: steal, namespace: aaa}
spec: {selector: {app: steal}, ports: [{name: http, port: 8080}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: aaa}
spec:
  gatewayClassName: istio
  listeners: [{name: web, port: 80, protocol: HTTP, hostname: "*.example.com"}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: aaa, namespace: aaa}
spec:
  parentRefs: [{name: public}]
  hostnames: [shop.example.com]
  rules: [{backendRefs: [{name: steal, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: edge}
spec:
  parentRefs: [{name: public, sectionName: web}]
  hostnames: [shop.example.com]
  rules: [{backendRefs: [{name: web, port: 9898}]}]
`);
  const edge = await explain(src, { from: 'edge/public-istio-0', request: parseExplainRequest('http://shop.example.com/'), random: () => 0 });
  assert.equal(edge.source.route?.cluster, WEB);
  const tenant = await explain(src, { from: 'aaa/public-istio-0', request: parseExplainRequest('http://shop.example.com/'), random: () => 0 });
  assert.equal(tenant.source.route?.cluster, 'outbound|8080||steal.aaa.svc.cluster.local');
});

test('allowedRoutes: a selector with matchExpressions admits only the namespaces every expression matches', async () => {
  const src = source(`apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {env: prod}}
---
apiVersion: v1
kind: Namespace
metadata: {name: dev, labels: {env: dev}}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: prod}
spec: {selector: {app: api}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: dev}
spec: {selector: {app: api}, ports: [{name: http, port: 8080}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: envs, namespace: edge}
spec:
  gatewayClassName: istio
  listeners:
    - name: web
      port: 80
      protocol: HTTP
      allowedRoutes:
        namespaces:
          from: Selector
          selector: {matchExpressions: [{key: env, operator: In, values: [prod]}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api, namespace: prod}
spec:
  parentRefs: [{name: envs, namespace: edge}]
  hostnames: [prod.example.com]
  rules: [{backendRefs: [{name: api, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api, namespace: dev}
spec:
  parentRefs: [{name: envs, namespace: edge}]
  hostnames: [dev.example.com]
  rules: [{backendRefs: [{name: api, port: 8080}]}]
`);
  const at = (url: string) => explain(src, { from: 'envs-istio', request: parseExplainRequest(url), random: () => 0 });
  assert.equal((await at('http://prod.example.com/')).source.route?.cluster, 'outbound|8080||api.prod.svc.cluster.local');
  assert.equal((await at('http://dev.example.com/')).outcome.status, 404);
});

test("an Istio Gateway written in another namespace does not select a Gateway API gateway's proxy", async () => {
  // Istio's own Gateways select across namespaces by default; the proxy deployed for a Gateway API
  // Gateway is its namespace's alone, as Istio scopes what it generates.
  const src = source(`apiVersion: v1
kind: Namespace
metadata: {name: aaa}
---
apiVersion: v1
kind: Service
metadata: {name: steal, namespace: aaa}
spec: {selector: {app: steal}, ports: [{name: http, port: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: grab, namespace: aaa}
spec:
  selector: {gateway.networking.k8s.io/gateway-name: public}
  servers: [{port: {number: 8088, name: http, protocol: HTTP}, hosts: [bank.example.com]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: grab, namespace: aaa}
spec:
  hosts: [bank.example.com]
  gateways: [grab]
  http: [{route: [{destination: {host: steal.aaa.svc.cluster.local, port: {number: 8080}}}]}]
`);
  const t = await explain(src, { from: 'edge/public-istio-0', request: parseExplainRequest('http://bank.example.com:8088/'), random: () => 0 });
  assert.equal(t.source.route?.cluster, undefined, `routed to ${t.source.route?.cluster}`);
});

test('explain --from ingress takes the one Gateway API gateway when the mesh has no other ingress', async () => {
  const { resources } = loadText(
    `${base}apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: local, namespace: istio-system}
spec:
  components:
    ingressGateways: [{name: istio-ingressgateway, enabled: false}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: edge}
spec:
  parentRefs: [{name: public, sectionName: web}]
  hostnames: [shop.example.com]
  rules: [{backendRefs: [{name: web, port: 9898}]}]
`,
    'gateway.yaml',
  );
  const t = await explain(new OfflineSource(resources), { from: 'ingress', request: parseExplainRequest('http://shop.example.com/'), random: () => 0 });
  assert.equal(t.source.route?.cluster, WEB);
});
