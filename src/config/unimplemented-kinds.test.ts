// Kinds a cluster's manifests carry that Outrigger does not implement: said once each, with what to
// use instead, never taken for a kind Outrigger runs, and never a reason to refuse the rest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from './load.ts';

const doc = (apiVersion: string, kind: string, extra = '') => `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n  name: x\n  namespace: podinfo\n${extra}`;

test('Gateway API kinds Outrigger does not implement say which it does, and are left out', () => {
  const text = [
    doc('gateway.networking.k8s.io/v1alpha2', 'UDPRoute', 'spec:\n  parentRefs: [{name: web}]\n'),
    doc('gateway.networking.x-k8s.io/v1alpha1', 'XListenerSet', 'spec:\n  parentRef: {name: web}\n'),
  ].join('---\n');
  const { resources, diagnostics } = loadText(text, 'routes.yaml');
  assert.deepEqual(
    diagnostics.map((d) => [d.code, d.severity, d.resource]),
    [
      ['OR1043', 'warning', 'UDPRoute podinfo/x'],
      ['OR1043', 'warning', 'XListenerSet podinfo/x'],
    ],
  );
  assert.match(diagnostics[0]?.message ?? '', /implements HTTPRoute, GRPCRoute, TCPRoute, TLSRoute, BackendTLSPolicy, Gateway, GatewayClass and ReferenceGrant.*docs\/gateway-api\.md/);
  assert.deepEqual(resources, []);
});

test('workloads Outrigger does not start, and policies it does not enforce, are warnings naming the alternative', () => {
  const cases: [string, string, RegExp][] = [
    ['apps/v1', 'StatefulSet', /Deployment and Job workloads/],
    ['v1', 'Pod', /Deployment and Job workloads/],
    ['batch/v1', 'CronJob', /run it as a Job/],
    ['networking.k8s.io/v1', 'NetworkPolicy', /AuthorizationPolicy/],
    ['networking.k8s.io/v1', 'Ingress', /Istio Gateway and VirtualService/],
    ['extensions.istio.io/v1alpha1', 'WasmPlugin', /runs no Wasm/],
    ['discovery.k8s.io/v1', 'EndpointSlice', /ServiceEntry with endpoints/],
  ];
  for (const [apiVersion, kind, why] of cases) {
    const { resources, diagnostics } = loadText(doc(apiVersion, kind), `${kind}.yaml`);
    // A Pod is not started but kept, untyped, for `analyze`, which counts it as a workload.
    assert.equal(resources.length, kind === 'Pod' ? 1 : 0, kind);
    assert.deepEqual(
      diagnostics.map((d) => [d.code, d.severity]),
      [['OR1043', 'warning']],
      kind,
    );
    assert.match(diagnostics[0]?.message ?? '', why, kind);
  }
});

test('kinds that act on a cluster are an info, cluster-scoped ones named without a namespace', () => {
  const text = [doc('autoscaling/v2', 'HorizontalPodAutoscaler'), doc('rbac.authorization.k8s.io/v1', 'ClusterRole'), doc('policy/v1', 'PodDisruptionBudget')].join('---\n');
  const { resources, diagnostics } = loadText(text, 'cluster.yaml');
  assert.equal(resources.length, 0);
  assert.deepEqual(
    diagnostics.map((d) => [d.code, d.severity, d.resource]),
    [
      ['OR1044', 'info', 'HorizontalPodAutoscaler podinfo/x'],
      ['OR1044', 'info', 'ClusterRole x'],
      ['OR1044', 'info', 'PodDisruptionBudget podinfo/x'],
    ],
  );
});

test('a misspelt kind is still an error, in a group Outrigger implements or not', () => {
  for (const [apiVersion, kind, guess] of [
    ['networking.istio.io/v1', 'VirtualSevice', 'VirtualService'],
    ['apps/v1', 'StatefullSet', 'StatefulSet'],
    ['example.com/v1', 'Widget', undefined],
  ] as const) {
    const { diagnostics } = loadText(doc(apiVersion, kind), 'typo.yaml');
    assert.equal(diagnostics[0]?.code, 'OR1011', kind);
    assert.equal(diagnostics[0]?.fix, guess ? `did you mean "${guess}"?` : 'Check the spelling of `kind`; see docs/configuration.md for the kinds.', kind);
  }
});

test('the metadata of an unimplemented kind is still checked', () => {
  const { diagnostics } = loadText('apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: Not_A_Name\n', 'ds.yaml');
  assert.equal(diagnostics[0]?.severity, 'error');
  assert.equal(diagnostics[0]?.field, 'metadata.name');
});
