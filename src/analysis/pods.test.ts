// Pod manifests are workloads for the analyzers, as for every Istio analyzer (which reads Pods):
// the loader keeps them (OR1043 still says Outrigger does not start them).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { AnalysisContext } from './context.ts';
import { runAnalyzers } from './run.ts';

const yaml = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews, namespace: shop, labels: {app: reviews}}
spec:
  serviceAccountName: reviews
  containers: [{name: app, image: nginx}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ap, namespace: shop}
spec:
  selector: {matchLabels: {app: reviews}}
`;

test('a Pod satisfies a policy selector and is a meshed workload', () => {
  const loaded = loadText(yaml, 'pods.yaml');
  assert.deepEqual(loaded.diagnostics.map((d) => d.code), ['OR1043']);
  assert.deepEqual(runAnalyzers(loaded.resources).filter((d) => d.code === 'IST0127'), []);
  const pod = new AnalysisContext(loaded.resources).workloads.find((w) => w.kind === 'Pod');
  assert.deepEqual(pod, { name: 'reviews', namespace: 'shop', labels: { app: 'reviews' }, serviceAccount: 'reviews', meshed: true, kind: 'Pod' });
});
