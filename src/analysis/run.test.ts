// runAnalyzers on resources built in code: the namespace filter, diagnostics without an origin, and
// the two checks whose fixtures the config loader does not accept yet (IST0110, IST0149).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AnyResource } from '../config/resource.ts';
import { runAnalyzers } from './run.ts';

function res(kind: string, namespace: string, name: string, spec: unknown, labels: Record<string, string> = {}): AnyResource {
  return { apiVersion: 'v1', kind, metadata: { name, namespace, labels, annotations: {} }, spec } as AnyResource;
}

const shop = res('Namespace', '', 'shop', {}, { 'istio-injection': 'enabled' });
const deployment = res('Deployment', 'shop', 'reviews', {
  selector: { matchLabels: { app: 'reviews' } },
  template: { metadata: { labels: { app: 'reviews', version: 'v1' } }, spec: { containers: [{ name: 'app' }] } },
});

test('IST0110: two Sidecars (workloadSelector.labels, as Istio spells it) select one workload', () => {
  const a = res('Sidecar', 'shop', 'by-app', { workloadSelector: { labels: { app: 'reviews' } } });
  const b = res('Sidecar', 'shop', 'by-version', { workloadSelector: { labels: { version: 'v1' } } });
  const found = runAnalyzers([shop, deployment, a, b]).filter((d) => d.code === 'IST0110');
  // Istio's sidecar.SelectorAnalyzer reports each Sidecar selecting the pod, naming them all.
  assert.deepEqual(
    found.map((d) => `${d.resource} ${d.field}: ${d.message}`),
    [
      'Sidecar shop/by-app spec.workloadSelector.labels: The Sidecars [by-app by-version] in namespace "shop" select the same workload pod "reviews", which can lead to undefined behavior.',
      'Sidecar shop/by-version spec.workloadSelector.labels: The Sidecars [by-app by-version] in namespace "shop" select the same workload pod "reviews", which can lead to undefined behavior.',
    ],
  );
  assert.equal(found[0]?.span, undefined, 'no origin, no span');
});

test('IST0149: claim routing needs a RequestAuthentication on the gateway', () => {
  const gw = res('Gateway', 'shop', 'public', { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 80, protocol: 'HTTP', name: 'http' }, hosts: ['*'] }] });
  const svc = res('Service', 'shop', 'reviews', { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 8080 }] });
  const vs = res('VirtualService', 'shop', 'reviews', {
    hosts: ['reviews.example.com'],
    gateways: ['public'],
    http: [{ match: [{ headers: { '@request.auth.claims.group': { exact: 'beta' } } }], route: [{ destination: { host: 'reviews' } }] }],
  });
  const without = runAnalyzers([shop, deployment, svc, gw, vs]).filter((d) => d.code === 'IST0149');
  assert.equal(without.length, 1);
  const ra = res('RequestAuthentication', 'istio-system', 'jwt', { selector: { matchLabels: { istio: 'ingressgateway' } }, jwtRules: [{ issuer: 'https://issuer.example' }] });
  assert.equal(runAnalyzers([shop, deployment, svc, gw, vs, ra]).filter((d) => d.code === 'IST0149').length, 0);
});

test('the namespaces option reports only those namespaces, using the rest as context', () => {
  const dr = res('DestinationRule', 'shop', 'ratings', { host: 'ratings' });
  const other = res('DestinationRule', 'billing', 'ledger', { host: 'ledger' });
  const all = runAnalyzers([shop, dr, other]).filter((d) => d.code === 'IST0174');
  assert.equal(all.length, 2);
  const onlyShop = runAnalyzers([shop, dr, other], { namespaces: ['shop'] }).filter((d) => d.code === 'IST0174');
  assert.deepEqual(onlyShop.map((d) => d.resource), ['DestinationRule shop/ratings']);
});

test('a VirtualService to an existing host and subset is clean', () => {
  const svc = res('Service', 'shop', 'reviews', { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 8080 }] });
  const dr = res('DestinationRule', 'shop', 'reviews', { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }] });
  const vs = res('VirtualService', 'shop', 'reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] });
  assert.deepEqual(runAnalyzers([shop, deployment, svc, dr, vs]), []);
});
