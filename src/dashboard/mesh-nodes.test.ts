// The dashboard's workload nodes are keyed as Istio's metrics name a workload (its Deployment), so a
// gateway's replica and the traffic it reports meet in one node, however the replica registered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildSnapshot } from '../model/snapshot.ts';
import type { WorkloadInstance } from '../model/workload.ts';
import { meshWorkloads, workloadOf } from './mesh-nodes.ts';

const gatewayPod: WorkloadInstance = {
  name: 'istio-ingressgateway-0',
  namespace: 'istio-system',
  workload: 'istio-ingressgateway',
  labels: { app: 'istio-ingressgateway', istio: 'ingressgateway' },
  serviceAccount: 'istio-ingressgateway-service-account',
  address: '127.0.0.1',
  appPorts: {},
  healthy: true,
  // A gateway's proxy announces its own instance.
  source: 'proxy',
};

test("a gateway's replica, registered by its proxy, is its Deployment's workload: one node, with its instance", () => {
  assert.equal(workloadOf(gatewayPod), 'istio-ingressgateway');
  const nodes = meshWorkloads(buildSnapshot([], [gatewayPod], '1'), []);
  assert.deepEqual([...nodes.keys()], ['workload:istio-system/istio-ingressgateway']);
  assert.equal(nodes.get('workload:istio-system/istio-ingressgateway')?.instances, 1);
});

test('a WorkloadEntry (no workload of its own) is its own workload, its name kept whole', () => {
  const vm: WorkloadInstance = { ...gatewayPod, name: 'vm-2', namespace: 'shop', source: 'workload-entry' };
  delete vm.workload;
  assert.equal(workloadOf(vm), 'vm-2');
  assert.equal(workloadOf({ ...gatewayPod, name: 'podinfo-stable-0', source: 'deployment', workload: 'podinfo-stable' }), 'podinfo-stable');
});
