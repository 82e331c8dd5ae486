import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findProxyComponent, proxyQuery } from './proxy-admin-address.ts';

test("a proxy named as istioctl names it: pod.namespace, deploy/NAME (its first replica), pod/NAME, with -n", () => {
  assert.equal(proxyQuery('podinfo-stable-0.podinfo'), 'podinfo-stable-0.podinfo');
  assert.equal(proxyQuery('podinfo-stable-0', 'podinfo'), 'podinfo-stable-0.podinfo');
  assert.equal(proxyQuery('deploy/podinfo-stable', 'podinfo'), 'podinfo-stable-0.podinfo');
  assert.equal(proxyQuery('deploy/podinfo-stable'), 'podinfo-stable-0');
  assert.equal(proxyQuery('pod/podinfo-canary-0', 'podinfo'), 'podinfo-canary-0.podinfo');
  assert.equal(proxyQuery('podinfo-stable-0.podinfo', 'other'), 'podinfo-stable-0.podinfo', 'a name with its namespace keeps it');
  assert.equal(proxyQuery('podinfo/podinfo-stable-0'), 'podinfo-stable-0.podinfo', 'NAMESPACE/POD, as logs and exec take it');
  const id = 'sidecar~127.0.0.1~podinfo-stable-0.podinfo~podinfo.svc.cluster.local';
  assert.equal(proxyQuery(id, 'podinfo'), id);
});

test('deploy/istio-ingressgateway is the gateway\'s first pod, istio-ingressgateway-0, as istioctl resolves deploy/NAME', () => {
  assert.equal(proxyQuery('deploy/istio-ingressgateway', 'istio-system'), 'istio-ingressgateway-0.istio-system');
  assert.equal(proxyQuery('deploy/istio-ingressgateway.istio-system'), 'istio-ingressgateway-0.istio-system');
  assert.equal(proxyQuery('deploy/istio-ingressgateway'), 'istio-ingressgateway-0');
  // The runtime's state names the gateway's component by its pod: the query finds it.
  const state = {
    components: [
      { name: 'istio-system/istio-ingressgateway-0', ports: { 'proxy:15000': 41000 } },
      { name: 'podinfo/podinfo-stable-0', ports: { 'proxy:15000': 41001 } },
    ],
  };
  assert.equal(findProxyComponent(state, proxyQuery('deploy/istio-ingressgateway', 'istio-system'))?.name, 'istio-system/istio-ingressgateway-0');
  assert.equal(findProxyComponent(state, proxyQuery('deploy/istio-ingressgateway'))?.name, 'istio-system/istio-ingressgateway-0');
});
