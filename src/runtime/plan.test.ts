import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { resolveCommand, UnrunnableContainerError } from './container-command.ts';
import { planMesh } from './plan.ts';

const manifests = `
apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio-injection: enabled } }
---
apiVersion: v1
kind: Namespace
metadata: { name: legacy }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web, version: v1 } }
    spec:
      serviceAccountName: web
      containers: [{ name: web, image: ghcr.io/stefanprodan/podinfo:6.5.0, ports: [{ containerPort: 9898 }] }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: opt-out, namespace: shop }
spec:
  selector: { matchLabels: { app: opt-out } }
  template:
    metadata: { labels: { app: opt-out }, annotations: { sidecar.istio.io/inject: "false" } }
    spec: { containers: [{ name: x, image: busybox, command: [sleep, "3600"] }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: old, namespace: legacy }
spec:
  selector: { matchLabels: { app: old } }
  template:
    metadata: { labels: { app: old } }
    spec: { containers: [{ name: x, image: example/old }] }
---
apiVersion: batch/v1
kind: Job
metadata: { name: check, namespace: shop }
spec:
  template:
    spec: { containers: [{ name: c, image: curlimages/curl, command: [sh, -c, "curl -s http://web:9898/"] }] }
`;

test('deployments become one workload per replica, with Istio injection rules', () => {
  const plan = planMesh(loadText(manifests).resources);
  const byName = new Map(plan.workloads.map((w) => [`${w.namespace}/${w.name}`, w]));
  assert.deepEqual([...byName.keys()].sort(), ['legacy/old-0', 'shop/check-0', 'shop/opt-out-0', 'shop/web-0', 'shop/web-1']);
  assert.equal(byName.get('shop/web-0')?.sidecar, true);
  assert.equal(byName.get('shop/web-0')?.serviceAccount, 'web');
  assert.equal(byName.get('shop/opt-out-0')?.sidecar, false, 'pod annotation opts out');
  assert.equal(byName.get('legacy/old-0')?.sidecar, false, 'namespace without the label');
  assert.equal(byName.get('shop/check-0')?.runToCompletion, true);
  assert.equal(byName.get('shop/check-0')?.serviceAccount, 'default');
});

test('without an IstioOperator there is one ingress gateway in istio-system', () => {
  const plan = planMesh(loadText(manifests).resources);
  assert.deepEqual(
    plan.gateways.map((g) => `${g.namespace}/${g.name}:${g.labels['istio']}`),
    ['istio-system/istio-ingressgateway:ingressgateway'],
  );
});

test('IstioOperator gateway components decide the gateways', () => {
  const op = `
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: mesh, namespace: istio-system }
spec:
  components:
    ingressGateways: [{ name: istio-ingressgateway, enabled: true }]
    egressGateways: [{ name: istio-egressgateway, enabled: true }, { name: "off", enabled: false }]
`;
  const loaded = loadText(op);
  assert.deepEqual(loaded.diagnostics, []);
  const plan = planMesh(loaded.resources);
  assert.deepEqual(
    plan.gateways.map((g) => `${g.name}:${g.kind}:${g.labels['istio']}`),
    ['istio-ingressgateway:ingress:ingressgateway', 'istio-egressgateway:egress:egressgateway'],
  );
});

test('containers map to their command, a built-in program, or an annotation; nothing is guessed', () => {
  const node = '/usr/bin/node';
  const podinfo = resolveCommand({ name: 'p', image: 'ghcr.io/stefanprodan/podinfo:6.5.0', command: ['./podinfo', '--port=9898'] }, {}, node);
  assert.equal(podinfo.origin, 'built-in');
  assert.match(podinfo.args.at(-1) ?? '', /demo\/podinfo\.ts$/);
  const own = resolveCommand({ name: 'c', image: 'curlimages/curl', command: ['sh', '-c', 'curl x'] }, {}, node);
  assert.deepEqual(own, { file: 'sh', args: ['-c', 'curl x'], origin: 'manifest' });
  const annotated = resolveCommand({ name: 'a', image: 'corp/api' }, { 'outrigger.dev/command': `python3 -m http.server "8000"` }, node);
  assert.deepEqual(annotated, { file: 'python3', args: ['-m', 'http.server', '8000'], origin: 'annotation' });
  assert.throws(() => resolveCommand({ name: 'x', image: 'corp/unknown' }, {}, node), UnrunnableContainerError);
});

test("the built-in podinfo reports its image tag as its version, as podinfo's own build does", () => {
  const node = '/usr/bin/node';
  const version = (image: string) => resolveCommand({ name: 'p', image }, {}, node).env?.['PODINFO_VERSION'];
  assert.equal(version('ghcr.io/stefanprodan/podinfo:6.5.3'), '6.5.3');
  assert.equal(version('stefanprodan/podinfo:v6.5.4'), '6.5.4');
  assert.equal(version('localhost:5000/stefanprodan/podinfo'), undefined, "a registry's port is not a tag");
  assert.equal(version('ghcr.io/stefanprodan/podinfo:latest'), undefined);
  assert.equal(version('ghcr.io/stefanprodan/podinfo@sha256:abc'), undefined);
});

test("the IstioOperator's certificate settings reach every proxy as flags", async () => {
  const { certificateProxyArgs } = await import('./start-control-plane.ts');
  const op = `
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: mesh, namespace: istio-system }
spec:
  meshConfig:
    trustDomain: example.org
    defaultConfig:
      proxyMetadata: { SECRET_TTL: 24h, SECRET_GRACE_PERIOD_RATIO: "0.75" }
`;
  const loaded = loadText(op);
  assert.deepEqual(loaded.diagnostics, []);
  assert.deepEqual(certificateProxyArgs(loaded.resources), ['--trust-domain', 'example.org', '--cert-ttl', '86400s', '--grace-ratio', '0.75']);
  assert.deepEqual(certificateProxyArgs([]), ['--trust-domain', 'cluster.local']);
});
