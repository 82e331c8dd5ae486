// loadText end to end: YAML 1.1 scalars as kubectl reads them, typed resources with origins, every
// error reported, invalid resources left out while their neighbours load.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from './load.ts';
import type { ConfigMap, Namespace, Secret, VirtualService } from './resource.ts';

test('YAML 1.1 scalars, as kubectl (go-yaml) reads them', () => {
  const { resources, diagnostics } = loadText(
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: podinfo}
spec:
  hosts: [podinfo]
  http:
  - match:
    - ignoreUriCase: yes
    route:
    - destination: {host: podinfo}
    retries: {attempts: 0x3, retryRemoteLocalities: off}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
data: {when: "2024-01-01", mode: "0755"}
`,
    'a.yaml',
  );
  assert.deepEqual(diagnostics, []);
  const vs = resources[0] as VirtualService;
  assert.equal(vs.spec.http?.[0]?.match?.[0]?.ignoreUriCase, true);
  assert.equal(vs.spec.http?.[0]?.retries?.attempts, 3);
  assert.equal(vs.spec.http?.[0]?.retries?.retryRemoteLocalities, false);
  assert.deepEqual((resources[1] as ConfigMap).spec.data, { when: '2024-01-01', mode: '0755' });
  const bad = loadText('apiVersion: v1\nkind: Namespace\nmetadata:\n  name: podinfo\n  labels:\n    istio-injection: on\n', 'b.yaml');
  assert.equal(bad.diagnostics[0]?.code, 'OR1021', 'unquoted on is a boolean, and labels are strings');
  assert.match(bad.diagnostics[0]?.fix ?? '', /quote/);
});

test('metadata defaults, origins and field lookups', () => {
  const { resources } = loadText(
    'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: podinfo\n  labels: {istio-injection: enabled}\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: dr}\nspec:\n  host: podinfo\n',
    'm.yaml',
  );
  const [ns, dr] = resources;
  assert.equal((ns as Namespace).metadata.namespace, '');
  assert.deepEqual((ns as Namespace).metadata.labels, { 'istio-injection': 'enabled' });
  assert.equal(dr?.metadata.namespace, 'default');
  assert.equal(dr?.origin?.documentIndex, 1);
  assert.equal(dr?.origin?.span.start.line, 7);
  const host = dr?.origin?.lookup(['spec', 'host']);
  assert.deepEqual([host?.file, host?.start.line, host?.start.col, host?.end.col], ['m.yaml', 11, 9, 16]);
  assert.equal(dr?.origin?.lookup(['spec', 'nothing']), undefined);
});

test('Secret data is base64-decoded and stringData laid over it', () => {
  const { resources, diagnostics } = loadText(
    `apiVersion: v1
kind: Secret
metadata: {name: s, namespace: istio-system}
type: kubernetes.io/tls
data:
  tls.crt: ${Buffer.from('CERT').toString('base64')}
  both: ${Buffer.from('from-data').toString('base64')}
stringData:
  both: from-stringData
`,
    's.yaml',
  );
  assert.deepEqual(diagnostics, []);
  assert.deepEqual((resources[0] as Secret).spec, { type: 'kubernetes.io/tls', data: { 'tls.crt': 'CERT', both: 'from-stringData' } });
});

test('every error is reported; the invalid resource is left out, its neighbours load', () => {
  const { resources, diagnostics } = loadText(
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bad, namespace: podinfo}
spec:
  hosts: [podinfo]
  http:
  - route:
    - destination: {host: podinfo}
      weight: 150
    timeout: soon
    retries: {attempts: -1, perTryTimeout: 2s, retryOn: 5xx}
    rewrite: {uri: /x}
    redirect: {uri: /y}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: good, namespace: podinfo}
`,
    'e.yaml',
  );
  assert.deepEqual(
    diagnostics.map((d) => d.code).sort(),
    ['OR1024', 'OR1025', 'OR1029', 'OR1029', 'OR1030'],
  );
  assert.deepEqual(
    resources.map((r) => r.kind),
    ['ServiceAccount'],
  );
});

test('empty documents and comments are not resources', () => {
  assert.deepEqual(loadText('---\n# nothing\n---\n', 'x.yaml'), { resources: [], diagnostics: [] });
  assert.deepEqual(loadText('', 'x.yaml'), { resources: [], diagnostics: [] });
});
