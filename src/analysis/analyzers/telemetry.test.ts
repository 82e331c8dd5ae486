// The providers a Telemetry may name come from the meshConfig in force: the first IstioOperator that
// has one, as translation reads it, not merely the first IstioOperator.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { runAnalyzers } from '../run.ts';
import { shopWithReviews } from '../../../test/fixtures/analysis-shop.ts';

test('a provider defined in the meshConfig in force is known, whichever IstioOperator comes first', () => {
  const { resources, diagnostics } = loadText(`apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: gateways, namespace: istio-system }
spec:
  components: { ingressGateways: [{ name: istio-ingressgateway, enabled: true }] }
---
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: mesh, namespace: istio-system }
spec:
  meshConfig:
    extensionProviders: [{ name: otel, opentelemetry: { service: otel-collector.observability.svc.cluster.local, port: 4317 } }]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh-default, namespace: istio-system }
spec:
  tracing: [{ providers: [{ name: otel }], randomSamplingPercentage: 5 }]
`);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  assert.deepEqual(runAnalyzers(resources).filter((d) => d.code === 'OR2008'), []);
});

test("provider names match ignoring case, as pilot's fetchProvider (strings.EqualFold) finds them", () => {
  const { resources } = loadText(`apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: mesh, namespace: istio-system }
spec:
  meshConfig:
    extensionProviders: [{ name: otel, opentelemetry: { service: otel-collector.observability.svc.cluster.local, port: 4317 } }]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh-default, namespace: istio-system }
spec:
  tracing: [{ providers: [{ name: OTel }] }]
  metrics: [{ providers: [{ name: Prometheus }] }]
  accessLogging: [{ providers: [{ name: otle }] }]
`);
  assert.deepEqual(
    runAnalyzers(resources)
      .filter((d) => d.code === 'OR2008')
      .map((d) => d.field),
    ['spec.accessLogging[0].providers[0].name'],
  );
});

const shop = shopWithReviews();
const selected = (name: string, app: string) => `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: ${name}, namespace: shop }
spec:
  selector: { matchLabels: { app: ${app} } }
  metrics: [{ providers: [{ name: prometheus }] }]
---
`;

test("telemetry.SelectorAnalyzer: a selector matching nothing is IST0101, a workload selected twice is IST0159 on each", () => {
  const missing = runAnalyzers(loadText(shop + selected('t', 'ratings')).resources).filter((d) => d.code.startsWith('IST'));
  assert.deepEqual(missing.map((d) => `${d.code}: ${d.message}`), ['IST0101: Referenced selector not found: "app=ratings"']);
  const twice = runAnalyzers(loadText(shop + selected('t2', 'reviews') + selected('t1', 'reviews')).resources).filter((d) => d.code === 'IST0159');
  assert.deepEqual(twice.map((d) => `${d.resource}: ${d.message}`), [
    'Telemetry shop/t2: The Telemetries [t1 t2] in namespace "shop" select the same workload pod "reviews", which can lead to undefined behavior.',
    'Telemetry shop/t1: The Telemetries [t1 t2] in namespace "shop" select the same workload pod "reviews", which can lead to undefined behavior.',
  ]);
});

test('IST0157 and IST0160 follow Istio\'s message templates', () => {
  const plain = (name: string, body: string) => `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: ${name}, namespace: shop }
spec: ${body}
---
`;
  const found = runAnalyzers(loadText(shop + plain('logs', '{ accessLogging: [{}] }') + plain('metrics', '{ metrics: [{ providers: [{ name: prometheus }] }] }')).resources);
  assert.deepEqual(found.filter((d) => d.code === 'IST0157').map((d) => d.message), ['The Telemetry logs in namespace "shop" with empty providers will be ignored.']);
  assert.deepEqual(found.filter((d) => d.code === 'IST0160').map((d) => d.message), [
    'The Telemetries [logs metrics] in namespace "shop" have no workload selector, which can lead to undefined behavior.',
    'The Telemetries [logs metrics] in namespace "shop" have no workload selector, which can lead to undefined behavior.',
  ]);
});
