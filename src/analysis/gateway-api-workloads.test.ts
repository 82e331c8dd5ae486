// The analyzers know the proxies `up` deploys for Gateway API Gateways (`<name>-istio`, labelled with
// the Gateway's name): a policy that selects one is not reported as selecting nothing (IST0127).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { runAnalyzers } from './run.ts';

test("a policy that selects a Gateway API gateway's proxy by its gateway-name label selects a workload", () => {
  const { resources } = loadText(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: shop}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: gateway-only-get, namespace: shop}
spec:
  selector: {matchLabels: {gateway.networking.k8s.io/gateway-name: web}}
  action: ALLOW
  rules: [{to: [{operation: {methods: [GET]}}]}]
`, 'gw.yaml');
  const found = runAnalyzers(resources).map((d) => `${d.code} ${d.resource}`);
  assert.deepEqual(found.filter((f) => f.startsWith('IST0127')), []);
  // And the check runs: a selector no proxy has is still reported.
  const { resources: other } = loadText(
    `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: nobody, namespace: shop}
spec:
  selector: {matchLabels: {gateway.networking.k8s.io/gateway-name: nope}}
  action: ALLOW
  rules: [{to: [{operation: {methods: [GET]}}]}]
`,
    'other.yaml',
  );
  assert.deepEqual(
    runAnalyzers([...resources, ...other])
      .filter((d) => d.code === 'IST0127')
      .map((d) => d.resource),
    ['AuthorizationPolicy shop/nobody'],
  );
});
