// Shared translation must not change what any proxy gets: every golden case translated with one memo
// shared by all its proxies (in both orders) equals the unshared translation, resource for resource.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import { SnapshotMemo } from '../../src/controlplane/translation-memo.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { loadGoldenCase } from '../../src/translate/golden.ts';
import { buildProxyResources, type ProxyResources } from '../../src/translate/proxy-resources.ts';
import { meshTranslateOptions } from '../../src/translate/default-options.ts';

const fixtures = path.join(import.meta.dirname, '../fixtures/translate');

function dump(r: ProxyResources): string {
  return JSON.stringify([...r].map(([t, named]) => [t, [...named]]));
}

/** A replica of the same workload (another pod name, IP and tunnel) and a look-alike of another workload. */
function withReplicas(proxies: readonly ProxyView[]): ProxyView[] {
  return proxies.flatMap((p) => [
    p,
    { ...p, id: p.id.replace('~', '~replica-'), ip: '10.9.9.8', ...(p.tunnelAddress ? { tunnelAddress: '10.9.9.8:15008' } : {}) },
    { ...p, id: p.id.replace('~', '~other-'), workloadName: `${p.workloadName}-other`, ip: '10.9.9.9' },
  ]);
}

for (const name of readdirSync(fixtures)) {
  test(`shared translation equals per-proxy translation: ${name}`, () => {
    const { snapshot, proxies } = loadGoldenCase(path.join(fixtures, name));
    const all = withReplicas(proxies);
    const alone = all.map((p) => dump(buildProxyResources(snapshot, p)));
    for (const order of [all, [...all].reverse()]) {
      const memo = new SnapshotMemo();
      for (const p of order) {
        const shared = dump(buildProxyResources(snapshot, p, meshTranslateOptions, memo));
        assert.equal(shared, alone[all.indexOf(p)], `${p.id} differs when translation is shared`);
      }
      assert.ok(memo.stats.hits > 0, 'replicas reuse the shared clusters and routes');
    }
    // A sidecar's replica gets the very same per-type maps: nothing is translated or encoded twice.
    const memo = new SnapshotMemo();
    for (const p of proxies.filter((x) => x.role === 'sidecar')) {
      const [, replica] = withReplicas([p]) as [ProxyView, ProxyView];
      const a = buildProxyResources(snapshot, p, meshTranslateOptions, memo);
      const b = buildProxyResources(snapshot, replica, meshTranslateOptions, memo);
      assert.notEqual(a, b, 'each proxy gets its own outer map');
      for (const [type, named] of a) assert.equal(b.get(type), named, `${replica.id}: ${type} shared with ${p.id}`);
    }
  });
}

const apiService = `
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec: { selector: { app: api }, ports: [{ name: http, port: 8080 }] }
`;

const selectors = `${apiService}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: api-for-canary-clients, namespace: shop }
spec:
  host: api
  workloadSelector: { matchLabels: { track: canary } }
  trafficPolicy: { connectionPool: { tcp: { maxConnections: 7 } } }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api, namespace: shop }
spec:
  hosts: [api]
  http:
  - match: [{ sourceLabels: { tier: edge } }]
    route: [{ destination: { host: api } }]
    timeout: 3s
  - route: [{ destination: { host: api } }]
`;

test('proxies whose selected labels differ do not share clusters or routes; other labels do not matter', () => {
  const { resources } = loadText(selectors, 'selectors.yaml');
  const snapshot = buildSnapshot(resources, [], '1');
  const proxy = (pod: string, labels: Record<string, string>): ProxyView => ({ id: `sidecar~10.0.0.1~${pod}.shop~shop.svc.cluster.local`, role: 'sidecar', namespace: 'shop', workloadName: pod, serviceAccount: 'default', labels, ip: '10.0.0.1', appPorts: {} });
  const proxies = [
    proxy('web-1', { app: 'web', pod: '1' }),
    proxy('web-2', { app: 'web', pod: '2' }),
    proxy('web-canary', { app: 'web', track: 'canary' }),
    proxy('gw', { app: 'web', tier: 'edge' }),
  ];
  const memo = new SnapshotMemo();
  for (const p of proxies) assert.equal(dump(buildProxyResources(snapshot, p, meshTranslateOptions, memo)), dump(buildProxyResources(snapshot, p)), p.id);
  // web-1 and web-2 differ only in labels nothing selects on: one shared entry for both.
  // Entries: label keys, workload selectors, fallback clusters, tunnel listener, then clusters, their
  // load-assignment map, routes and the outbound listener for 3 scopes, one inbound listener (no policy
  // picks any of them; no one has inbound ports), and for each of the 4 workloads its cluster map and its
  // whole resources (no two are replicas of one workload). Hits: the first four for each later proxy,
  // web-2 reusing web-1's clusters, assignments, routes and outbound listener, and the other three
  // reusing web-1's inbound listener.
  assert.deepEqual(memo.stats, { entries: 4 + 3 * 4 + 1 + 4 * 2, hits: 4 * 3 + 4 + 3 });
});

const telemetrySelectors = `${apiService}---
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: mesh, namespace: istio-system }
spec: { meshConfig: { extensionProviders: [{ name: zipkin, zipkin: { service: zipkin.istio-system.svc.cluster.local, port: 9411 } }] } }
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: web-tracing, namespace: shop }
spec: { selector: { matchLabels: { app: web } }, tracing: [{ providers: [{ name: zipkin }], randomSamplingPercentage: 42 }] }
`;

test('proxies of one scope share the outbound listener only when the same Telemetry resources apply to them', () => {
  const { resources } = loadText(telemetrySelectors, 'telemetry.yaml');
  const snapshot = buildSnapshot(resources, [], '1');
  const proxy = (pod: string, labels: Record<string, string>): ProxyView => ({ id: `sidecar~10.0.0.1~${pod}.shop~shop.svc.cluster.local`, role: 'sidecar', namespace: 'shop', workloadName: pod, serviceAccount: pod, labels, ip: '10.0.0.1', appPorts: {} });
  const web = proxy('web', { app: 'web' });
  const cart = proxy('cart', { app: 'cart' });
  const orders = proxy('orders', { app: 'orders' });
  const memo = new SnapshotMemo();
  const outbound = (p: ProxyView) => buildProxyResources(snapshot, p, meshTranslateOptions, memo).get('type.googleapis.com/envoy.config.listener.v3.Listener')?.get('virtualOutbound');
  for (const p of [web, cart, orders]) assert.equal(dump(buildProxyResources(snapshot, p, meshTranslateOptions, memo)), dump(buildProxyResources(snapshot, p)), p.id);
  // cart and orders: other workloads and service accounts, nothing selects them; the telemetry filter names no workload.
  assert.equal(outbound(cart), outbound(orders), 'one object for both');
  assert.notEqual(outbound(web), outbound(cart), 'the workload-selected Telemetry (42 % sampling) applies to web alone');
  assert.match(JSON.stringify(outbound(web)), /"numberValue":42/);
  assert.doesNotMatch(JSON.stringify(outbound(cart)), /"numberValue":42/);
});

/** Three workloads' Services in one namespace, each on port 80 to target port 8080. */
const threeServices = ['cart', 'orders', 'admin']
  .map((app) => `apiVersion: v1\nkind: Service\nmetadata: { name: ${app}, namespace: shop }\nspec: { selector: { app: ${app} }, ports: [{ name: http, port: 80, targetPort: 8080 }] }`)
  .join('\n---\n');

/**
 * A Service over all three (`tier: front`), first by hostname: it names their inbound routes' spans
 * (the first service to a port does), so the three may share an inbound listener.
 */
const frontService = `apiVersion: v1\nkind: Service\nmetadata: { name: a-front, namespace: shop }\nspec: { selector: { tier: front }, ports: [{ name: http, port: 80, targetPort: 8080 }] }`;

/** Whether cart's and orders' virtualInbound come out as one shared object, after the policies below. */
function inboundShared(policies: string): { shared: boolean; admin: boolean } {
  const { resources, diagnostics } = loadText(`${threeServices}\n---\n${frontService}\n---\n${policies}`, 'inbound.yaml');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const snapshot = buildSnapshot(resources, [], '1');
  const proxy = (app: string): ProxyView => ({ id: `sidecar~10.0.0.1~${app}-0.shop~shop.svc.cluster.local`, role: 'sidecar', namespace: 'shop', workloadName: app, serviceAccount: app, labels: { app, tier: 'front' }, ip: '10.0.0.1', appPorts: { 8080: 41000 } });
  const memo = new SnapshotMemo();
  const inbound = (p: ProxyView) => {
    const shared = buildProxyResources(snapshot, p, meshTranslateOptions, memo);
    assert.equal(dump(shared), dump(buildProxyResources(snapshot, p)), `${p.id} differs when translation is shared`);
    return shared.get('type.googleapis.com/envoy.config.listener.v3.Listener')?.get('virtualInbound');
  };
  const [cart, orders, admin] = ['cart', 'orders', 'admin'].map((a) => inbound(proxy(a)));
  return { shared: cart === orders, admin: cart === admin };
}

test('workloads with the same inbound ports, named by the same service, and the same policies share one inbound listener; their clusters name their services', () => {
  assert.deepEqual(inboundShared('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: unrelated, namespace: shop }\ndata: {}'), { shared: true, admin: true });
  // Without the common Service each port's span is named by the workload's own: one listener each.
  const own = new SnapshotMemo();
  const alone = buildSnapshot(loadText(threeServices, 'inbound.yaml').resources, [], '1');
  const inboundOf = (app: string) =>
    buildProxyResources(alone, { id: `sidecar~10.0.0.1~${app}-0.shop~shop.svc.cluster.local`, role: 'sidecar', namespace: 'shop', workloadName: app, serviceAccount: app, labels: { app }, ip: '10.0.0.1', appPorts: { 8080: 41000 } }, meshTranslateOptions, own)
      .get('type.googleapis.com/envoy.config.listener.v3.Listener')
      ?.get('virtualInbound');
  assert.notEqual(inboundOf('cart'), inboundOf('orders'));
  assert.match(JSON.stringify(inboundOf('orders')), /"operation":"orders\.shop\.svc\.cluster\.local:80\/\*"/);
  const { resources } = loadText(threeServices, 'inbound.yaml');
  const snapshot = buildSnapshot(resources, [], '1');
  const cluster = buildProxyResources(snapshot, { id: 'sidecar~10.0.0.1~cart-0.shop~shop.svc.cluster.local', role: 'sidecar', namespace: 'shop', workloadName: 'cart', serviceAccount: 'cart', labels: { app: 'cart' }, ip: '10.0.0.1', appPorts: { 8080: 41000 } })
    .get('type.googleapis.com/envoy.config.cluster.v3.Cluster')
    ?.get('inbound|8080||');
  assert.match(JSON.stringify(cluster?.['metadata']), /"stringValue":"cart\.shop\.svc\.cluster\.local"/);
  assert.doesNotMatch(JSON.stringify(cluster?.['metadata']), /orders/);
});

test('a policy that picks one workload by label keeps its inbound listener apart', () => {
  const cases: Record<string, string> = {
    'AuthorizationPolicy by selector': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: cart-deny, namespace: shop }
spec: { selector: { matchLabels: { app: cart } }, action: DENY, rules: [{ to: [{ operation: { paths: [/admin] } }] }] }`,
    'AuthorizationPolicy in the root namespace by selector': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: cart-deny, namespace: istio-system }
spec: { selector: { matchLabels: { app: cart } }, action: DENY, rules: [{ to: [{ operation: { paths: [/admin] } }] }] }`,
    // Istio's attachesToClassicGateway: a targetRef to a classic Gateway picks the workloads it selects.
    'AuthorizationPolicy by targetRef to a classic Gateway': `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: cart-gw, namespace: shop }
spec: { selector: { app: cart }, servers: [{ port: { number: 8443, name: http, protocol: HTTP }, hosts: ['*'] }] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: cart-deny, namespace: shop }
spec: { targetRefs: [{ group: networking.istio.io, kind: Gateway, name: cart-gw }], action: DENY, rules: [{ to: [{ operation: { paths: [/admin] } }] }] }`,
    'RequestAuthentication': `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: cart-jwt, namespace: shop }
spec: { selector: { matchLabels: { app: cart } }, jwtRules: [{ issuer: https://issuer.example, jwksUri: https://issuer.example/jwks }] }`,
    'PeerAuthentication port level': `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: cart-port, namespace: shop }
spec: { selector: { matchLabels: { app: cart } }, mtls: { mode: STRICT }, portLevelMtls: { '8080': { mode: DISABLE } } }`,
    'Telemetry': `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: cart-tracing, namespace: shop }
spec: { selector: { matchLabels: { app: cart } }, tracing: [{ randomSamplingPercentage: 42 }] }`,
  };
  for (const [name, yaml] of Object.entries(cases)) assert.deepEqual(inboundShared(yaml), { shared: false, admin: false }, name);
  // Kinds the inbound listener does not read neither split it nor break it: a DestinationRule's
  // workloadSelector, and an EnvoyFilter (accepted with a warning, any spec) with a malformed targetRefs.
  const unread = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: cart-clients, namespace: shop }
spec: { host: orders, workloadSelector: { matchLabels: { app: cart } }, trafficPolicy: { connectionPool: { tcp: { maxConnections: 7 } } } }
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: { name: odd, namespace: istio-system }
spec: { targetRefs: abc, workloadSelector: { labels: { app: cart } } }`;
  assert.deepEqual(inboundShared(unread), { shared: true, admin: true });
  // A targetRef to a Service attaches to waypoints only (Istio's policyattachment.go): no sidecar takes it.
  const serviceRef = cases['AuthorizationPolicy by selector']!.replace('selector: { matchLabels: { app: cart } }', "targetRefs: [{ kind: Service, group: '', name: cart }]");
  assert.deepEqual(inboundShared(serviceRef), { shared: true, admin: true });
  // A policy for the whole namespace picks every workload alike: still one listener.
  const namespaceWide = cases['AuthorizationPolicy by selector']!.replace('selector: { matchLabels: { app: cart } }, ', '');
  assert.deepEqual(inboundShared(namespaceWide), { shared: true, admin: true });
});
