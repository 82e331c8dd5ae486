// The providers a Telemetry may name come from the meshConfig in force: the first IstioOperator that
// has one, as translation reads it, not merely the first IstioOperator.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { runAnalyzers } from '../run.ts';

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
