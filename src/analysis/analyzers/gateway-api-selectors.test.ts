// IST0166: a selector that picks a Kubernetes Gateway's proxy, where Istio wants targetRefs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { runAnalyzers } from '../run.ts';

const yaml = (attach: string) => `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio-injection: enabled } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: shop }
spec:
  gatewayClassName: istio
  listeners: [{ name: http, port: 80, protocol: HTTP }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ap, namespace: shop }
spec:
  ${attach}
  action: DENY
  rules: [{ to: [{ operation: { paths: ["/admin"] } }] }]
`;

test('a policy selector on a Gateway API gateway is IST0166; a targetRef is not', () => {
  const hits = runAnalyzers(loadText(yaml('selector: { matchLabels: { gateway.networking.k8s.io/gateway-name: gw } }')).resources).filter((d) => d.code === 'IST0166');
  assert.deepEqual(hits.map((d) => d.message), ['Ineffective selector on Kubernetes Gateway gw. Use the TargetRef field instead.']);
  const ref = runAnalyzers(loadText(yaml('targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: gw }]')).resources);
  assert.deepEqual(ref.filter((d) => d.code === 'IST0166'), []);
});
