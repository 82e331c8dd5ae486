import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toStruct } from './any.ts';
import { NodeError, parseNode } from './node-view.ts';

test('an Istio-style sidecar node becomes a ProxyView', () => {
  const info = parseNode({
    id: 'sidecar~127.0.0.1~podinfo-stable-0.podinfo~podinfo.svc.cluster.local',
    metadata: toStruct({
      NAMESPACE: 'podinfo',
      LABELS: { app: 'podinfo', version: 'stable' },
      SERVICE_ACCOUNT: 'podinfo',
      WORKLOAD_NAME: 'podinfo-stable',
      INSTANCE_IPS: '127.0.0.1',
      OUTRIGGER_APP_PORTS: { '9898': '41234' },
      OUTRIGGER_TUNNEL_ADDRESS: '127.0.0.1:41002',
    }),
  });
  assert.equal(info.podName, 'podinfo-stable-0');
  assert.equal(info.generator, 'envoy');
  assert.deepEqual(info.view, {
    id: 'sidecar~127.0.0.1~podinfo-stable-0.podinfo~podinfo.svc.cluster.local',
    role: 'sidecar',
    namespace: 'podinfo',
    workloadName: 'podinfo-stable',
    serviceAccount: 'podinfo',
    labels: { app: 'podinfo', version: 'stable' },
    ip: '127.0.0.1',
    appPorts: { 9898: 41234 },
    tunnelAddress: '127.0.0.1:41002',
  });
});

test('gateways, proxyless clients and sparse nodes', () => {
  const gw = parseNode({ id: 'router~127.0.0.1~istio-ingressgateway-0.istio-system~istio-system.svc.cluster.local' });
  assert.equal(gw.view.role, 'router');
  assert.equal(gw.view.namespace, 'istio-system');
  const grpc = parseNode({ id: 'client-1', metadata: toStruct({ GENERATOR: 'grpc', NAMESPACE: 'test' }) });
  assert.equal(grpc.generator, 'grpc');
  assert.equal(grpc.view.namespace, 'test');
  assert.equal(grpc.view.serviceAccount, 'default');
});

test('a node without id, or whose id and metadata disagree, is refused', () => {
  assert.throws(() => parseNode(undefined), NodeError);
  assert.throws(
    () => parseNode({ id: 'sidecar~1.2.3.4~a-0.ns1~ns1.svc.cluster.local', metadata: toStruct({ NAMESPACE: 'ns2' }) }),
    /disagrees/,
  );
});

test('a pod name may hold dots, a namespace may not: the namespace follows the last dot', () => {
  const info = parseNode({ id: 'sidecar~10.0.0.7~web.v2-0.shop~shop.svc.cluster.local', metadata: toStruct({ NAMESPACE: 'shop' }) });
  assert.equal(info.podName, 'web.v2-0');
  assert.equal(info.view.namespace, 'shop');
});
