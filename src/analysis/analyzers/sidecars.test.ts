// Sidecar selectors as Istio's sidecar.SelectorAnalyzer judges them: one matching nothing is IST0101
// (not IST0127), and every Sidecar selecting a shared workload is reported (IST0110).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { runAnalyzers } from '../run.ts';
import { shopWithReviews } from '../../../test/fixtures/analysis-shop.ts';

const shop = shopWithReviews('app: reviews, version: v1');
const sidecar = (name: string, labels: string) => `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: ${name}, namespace: shop }
spec:
  workloadSelector: { labels: ${labels} }
  egress: [{ hosts: ["./*"] }]
---
`;

function analyze(yaml: string) {
  return runAnalyzers(loadText(yaml).resources);
}

test('a Sidecar selector matching no workload is IST0101 "selector", sorted as Kubernetes prints it', () => {
  const found = analyze(shop + sidecar('sc', '{ version: v9, app: ratings }'));
  assert.deepEqual(
    found.filter((d) => d.code.startsWith('IST')).map((d) => `${d.code} ${d.field}: ${d.message}`),
    ['IST0101 spec.workloadSelector.labels: Referenced selector not found: "app=ratings,version=v9"'],
  );
});

test('IST0110 goes to every Sidecar selecting the workload', () => {
  const found = analyze(shop + sidecar('sc1', '{ app: reviews }') + sidecar('sc2', '{ version: v1 }')).filter((d) => d.code === 'IST0110');
  assert.deepEqual(found.map((d) => d.resource), ['Sidecar shop/sc1', 'Sidecar shop/sc2']);
  assert.equal(found[0]?.message, 'The Sidecars [sc1 sc2] in namespace "shop" select the same workload pod "reviews", which can lead to undefined behavior.');
});

test('IST0111 message follows Istio\'s template', () => {
  const plain = (name: string) => `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: ${name}, namespace: shop }
spec: { egress: [{ hosts: ["./*"] }] }
---
`;
  const found = analyze(shop + plain('a') + plain('b')).filter((d) => d.code === 'IST0111');
  assert.deepEqual(found.map((d) => d.message), [
    'The Sidecars [a b] in namespace "shop" have no workload selector, which can lead to undefined behavior.',
    'The Sidecars [a b] in namespace "shop" have no workload selector, which can lead to undefined behavior.',
  ]);
});
