// AuthorizationPolicy checks as Istio's auth.AuthorizationPoliciesAnalyzer makes them: source namespaces
// (wildcards by namespaceMatch) are looked up, principals are not; a namespace-wide policy needs pods.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { runAnalyzers } from '../run.ts';
import { shopWithReviews } from '../../../test/fixtures/analysis-shop.ts';

const shop = shopWithReviews();

function analyze(yaml: string) {
  const { resources } = loadText(yaml);
  return runAnalyzers(resources);
}

const policy = (source: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ap, namespace: shop }
spec:
  selector: { matchLabels: { app: reviews } }
  rules: [{ from: [{ source: ${source} }] }]
`;

test('a wildcard source namespace matching no namespace is IST0101 (namespaceMatch)', () => {
  const found = analyze(shop + policy('{ namespaces: ["prod-*"] }')).filter((d) => d.code === 'IST0101');
  assert.deepEqual(found.map((d) => `${d.field}: ${d.message}`), ['spec.rules[0].from[0].source.namespaces[0]: Referenced namespace not found: "prod-*"']);
  assert.deepEqual(analyze(shop + policy('{ namespaces: ["sh*", "*op", "*"] }')).filter((d) => d.code === 'IST0101'), []);
});

test('the namespace inside a principal is not looked up (Istio checks namespaces and notNamespaces only)', () => {
  const found = analyze(shop + policy('{ principals: ["cluster.local/ns/elsewhere/sa/client"] }'));
  assert.deepEqual(found.filter((d) => d.code === 'IST0101'), []);
});

test('a namespace-wide AuthorizationPolicy in a namespace without workloads is IST0127 with empty labels', () => {
  const yaml = `apiVersion: v1
kind: Namespace
metadata: { name: empty, labels: { istio-injection: enabled } }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-all, namespace: empty }
spec: {}
`;
  assert.deepEqual(
    analyze(yaml).filter((d) => d.code === 'IST0127').map((d) => d.message),
    ['No matching workloads for this resource with the following labels: '],
  );
  // The same policy where workloads run is fine.
  assert.deepEqual(analyze(`${shop}apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-all, namespace: shop }
spec: {}
`).filter((d) => d.code === 'IST0127'), []);
});
