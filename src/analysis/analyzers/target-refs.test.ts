// OR2011: a targetRef policy that no workload takes, judged by translation's policySelects.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { runAnalyzers } from '../run.ts';

const gateway = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: public-gateway, namespace: edge }
spec: { selector: { istio: ingressgateway }, servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ['*'] }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: ingress, namespace: edge }
spec:
  selector: { matchLabels: { istio: ingressgateway } }
  template:
    metadata: { labels: { istio: ingressgateway } }
    spec: { containers: [{ name: proxy, image: example/proxy:1 }] }
`;
const policy = (namespace: string, ref: string) => `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: block-admin, namespace: ${namespace} }
spec: { targetRefs: [${ref}], action: DENY, rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] }
`;
const or2011 = (yaml: string) => {
  const { resources, diagnostics } = loadText(yaml, 'x.yaml');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  return runAnalyzers(resources).filter((d) => d.code === 'OR2011').map((d) => d.resource);
};

test('a targetRef to a classic Gateway of its namespace that selects a workload attaches: no OR2011', () => {
  assert.deepEqual(or2011(gateway + policy('edge', '{ group: networking.istio.io, kind: Gateway, name: public-gateway }')), []);
});

test('a targetRef that attaches to nothing is OR2011: another namespace, an unknown name, a Service, a Gateway that selects nothing', () => {
  const classic = '{ group: networking.istio.io, kind: Gateway, name: public-gateway }';
  assert.deepEqual(or2011(gateway + policy('shop', classic)), ['AuthorizationPolicy shop/block-admin']);
  assert.deepEqual(or2011(gateway + policy('edge', '{ group: networking.istio.io, kind: Gateway, name: other }')), ['AuthorizationPolicy edge/block-admin']);
  assert.deepEqual(or2011(gateway + policy('edge', "{ group: '', kind: Service, name: ingress }")), ['AuthorizationPolicy edge/block-admin']);
  assert.deepEqual(or2011(gateway.replace('istio: ingressgateway }, servers', 'istio: nothing }, servers') + policy('edge', classic)), ['AuthorizationPolicy edge/block-admin']);
});
