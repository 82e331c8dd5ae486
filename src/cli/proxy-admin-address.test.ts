import assert from 'node:assert/strict';
import { test } from 'node:test';
import { proxyQueries, proxyQuery } from './proxy-admin-address.ts';

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

test('deploy/NAME tries the first replica, then the Deployment name a gateway proxy goes by', () => {
  assert.deepEqual(proxyQueries('deploy/istio-ingressgateway', 'istio-system'), ['istio-ingressgateway-0.istio-system', 'istio-ingressgateway.istio-system']);
  assert.deepEqual(proxyQueries('deploy/istio-ingressgateway.istio-system'), ['istio-ingressgateway-0.istio-system', 'istio-ingressgateway.istio-system']);
  assert.deepEqual(proxyQueries('podinfo-stable-0.podinfo'), ['podinfo-stable-0.podinfo']);
});
