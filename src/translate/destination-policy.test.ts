// The policy each cluster runs with, merged as Istio's MergeSubsetTrafficPolicy merges it: a
// port-level entry replaces its level (omitted fields take defaults, not the level's values); a
// subset's fields replace the destination's one by one; a subset's port-level entry replaces all four.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { DestinationRule } from '../config/resource.ts';
import { buildProxyScope } from '../model/proxy-scope.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { destinationRuleFor, effectivePolicy } from './destination-policy.ts';

const rule = (spec: DestinationRule['spec']): DestinationRule => ({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'r', namespace: 'shop' }, spec }) as DestinationRule;

const outlier = { consecutive5xxErrors: 5 };
const pool = { tcp: { maxConnections: 10 } };
const mtls = { mode: 'ISTIO_MUTUAL' as const };

test('a port-level entry replaces the destination level for its port: what it omits is not inherited', () => {
  const dr = rule({ host: 'cart', trafficPolicy: { outlierDetection: outlier, connectionPool: pool, portLevelSettings: [{ port: { number: 9090 }, tls: mtls }] } });
  assert.deepEqual(effectivePolicy(dr, '', 8080), { outlierDetection: outlier, connectionPool: pool });
  assert.deepEqual(effectivePolicy(dr, '', 9090), { tls: mtls });
});

test("a subset's fields replace the destination's one by one; its port-level entry replaces all four", () => {
  const subsetLb = { simple: 'RANDOM' as const };
  const dr = rule({
    host: 'cart',
    trafficPolicy: { outlierDetection: outlier, connectionPool: pool, tls: mtls },
    subsets: [
      { name: 'v1', labels: { version: 'v1' }, trafficPolicy: { loadBalancer: subsetLb } },
      { name: 'v2', labels: { version: 'v2' }, trafficPolicy: { loadBalancer: subsetLb, portLevelSettings: [{ port: { number: 8080 }, connectionPool: { tcp: { maxConnections: 1 } } }] } },
    ],
  });
  assert.deepEqual(effectivePolicy(dr, 'v1', 8080), { outlierDetection: outlier, connectionPool: pool, tls: mtls, loadBalancer: subsetLb });
  assert.deepEqual(effectivePolicy(dr, 'v2', 8080), { connectionPool: { tcp: { maxConnections: 1 } } }, 'the subset port-level entry: tls, outlier detection and load balancer back to defaults');
  assert.deepEqual(effectivePolicy(dr, 'v2', 9090), { outlierDetection: outlier, connectionPool: pool, tls: mtls, loadBalancer: subsetLb }, 'other ports take the subset level');
});

// Which rule a client gets (Istio's PushContext.destinationRule): its own namespace's, then those the
// service's namespace exports to it, then the root namespace's. No other namespace's rule applies.
const svc = `apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, ports: [{name: http, port: 80}]}
`;
const dr = (ns: string, name: string, extra = '') =>
  `---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: {host: api.shop.svc.cluster.local${extra}}\n`;

function ruleFor(yaml: string, namespace = 'cli', labels: Record<string, string> = { app: 'c' }): string | undefined {
  const { resources, diagnostics } = loadText(svc + yaml);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const snapshot = buildSnapshot(resources, [], '1');
  const proxy: ProxyView = { id: `sidecar~127.0.0.1~c-0.${namespace}~${namespace}.svc.cluster.local`, role: 'sidecar', namespace, workloadName: 'c', serviceAccount: 'c', labels, ip: '127.0.0.1', appPorts: {} };
  const scope = buildProxyScope(snapshot, proxy);
  const service = scope.services.find((s) => s.hostname === 'api.shop.svc.cluster.local');
  assert.ok(service);
  const found = destinationRuleFor(snapshot, scope, service);
  return found && `${found.metadata.namespace}/${found.metadata.name}`;
}

test('a rule in a namespace that is neither the client’s, the service’s nor the root never applies, exported or not', () => {
  assert.equal(ruleFor(dr('ops', 'plain', ', exportTo: ["*"], trafficPolicy: {tls: {mode: DISABLE}}')), undefined);
  assert.equal(ruleFor(dr('ops', 'plain', ', exportTo: ["cli"]')), undefined);
});

test('client namespace, then the service’s namespace, then the root namespace', () => {
  const all = dr('istio-system', 'mesh') + dr('shop', 'owner') + dr('cli', 'mine');
  assert.equal(ruleFor(all), 'cli/mine');
  assert.equal(ruleFor(dr('istio-system', 'mesh') + dr('shop', 'owner')), 'shop/owner');
  assert.equal(ruleFor(dr('istio-system', 'mesh')), 'istio-system/mesh');
});

test('exportTo: the service’s rule only where exported; `.` keeps a root rule to the root namespace', () => {
  assert.equal(ruleFor(dr('shop', 'owner', ', exportTo: ["."]') + dr('istio-system', 'mesh')), 'istio-system/mesh');
  assert.equal(ruleFor(dr('shop', 'owner', ', exportTo: ["cli"]')), 'shop/owner');
  assert.equal(ruleFor(dr('shop', 'owner', ', exportTo: ["other"]')), undefined);
  assert.equal(ruleFor(dr('istio-system', 'mesh', ', exportTo: ["."]')), undefined);
  assert.equal(ruleFor(dr('istio-system', 'mesh', ', exportTo: ["."]'), 'istio-system'), 'istio-system/mesh');
});

test('the most specific host of a namespace decides, even when it is not exported to the client', () => {
  const wildcard = `---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: wide, namespace: shop}\nspec: {host: "*.shop.svc.cluster.local"}\n`;
  assert.equal(ruleFor(dr('shop', 'owner', ', exportTo: ["other"]') + wildcard + dr('istio-system', 'mesh')), 'istio-system/mesh');
  assert.equal(ruleFor(wildcard + dr('istio-system', 'mesh')), 'shop/wide');
});

test('a workloadSelector rule applies in its own namespace only, to the workloads it selects', () => {
  const selected = dr('cli', 'picked', ', workloadSelector: {matchLabels: {app: c}}');
  assert.equal(ruleFor(selected + dr('cli', 'all')), 'cli/picked');
  assert.equal(ruleFor(selected + dr('cli', 'all'), 'cli', { app: 'other' }), 'cli/all');
  assert.equal(ruleFor(dr('shop', 'picked', ', workloadSelector: {matchLabels: {app: c}}')), undefined, 'never exported to another namespace');
});

test('meshConfig.defaultDestinationRuleExportTo ["."]: a rule without exportTo stays in its namespace', () => {
  const mesh = '---\napiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: mesh, namespace: istio-system}\nspec: {meshConfig: {defaultDestinationRuleExportTo: ["."]}}\n';
  assert.equal(ruleFor(mesh + dr('shop', 'owner')), undefined);
  assert.equal(ruleFor(mesh + dr('shop', 'owner'), 'shop'), 'shop/owner');
  assert.equal(ruleFor(mesh + dr('shop', 'owner', ', exportTo: ["*"]')), 'shop/owner');
});
