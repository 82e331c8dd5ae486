// The workload names `logs` and `exec` accept, including the pod.namespace that proxy-status prints.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ComponentNotFoundError, findComponent } from './find-component.ts';
import type { ComponentState, MeshState } from './state.ts';

const component = (name: string, namespace: string): ComponentState => ({ name: `${namespace}/${name}`, namespace, kind: 'workload', ports: {}, sidecar: true, status: 'running', restarts: 0 });
const state = { components: [component('podinfo-stable-0', 'podinfo'), component('istio-ingressgateway', 'istio-system')] } as unknown as MeshState;

test('a workload is found by every name the other commands print: NAME, NS/NAME, deploy/NAME and pod.namespace', () => {
  for (const ref of ['podinfo-stable-0', 'podinfo/podinfo-stable-0', 'deploy/podinfo-stable', 'podinfo-stable-0.podinfo']) {
    assert.equal(findComponent(state, ref).name, 'podinfo/podinfo-stable-0', ref);
  }
  assert.equal(findComponent(state, 'istio-ingressgateway.istio-system').name, 'istio-system/istio-ingressgateway');
  assert.throws(() => findComponent(state, 'podinfo-stable-0.other'), ComponentNotFoundError);
});
