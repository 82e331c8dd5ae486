// Deployments as Istio's applicationUID.Analyzer and deployment.MultiServiceAnalyzer judge them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { runAnalyzers } from '../run.ts';

const shop = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio-injection: enabled } }
---
`;
const deployment = (spec = '') => `apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      ${spec}containers: [{ name: app, image: nginx }, { name: istio-proxy, image: auto, securityContext: { runAsUser: 1337 } }]
---
`;
const service = (name: string, ports: string) => `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: shop }
spec:
  selector: { app: web }
  ports: ${ports}
---
`;

function found(yaml: string, code: string) {
  return runAnalyzers(loadText(yaml).resources).filter((d) => d.code === code);
}

test('IST0144 for an application running as UID 1337; the istio-proxy container may', () => {
  assert.deepEqual(found(shop + deployment(), 'IST0144'), []);
  assert.deepEqual(found(shop + deployment('securityContext: { runAsUser: 1337 }\n      '), 'IST0144').map((d) => d.message), ['User ID (UID) 1337 is reserved for the sidecar proxy.']);
});

test('IST0116 and IST0137 for Services that disagree on a port of one meshed Deployment', () => {
  const yaml = shop + deployment() + service('web-tcp', '[{ name: tcp-dns, port: 53, protocol: TCP }, { name: http, port: 80, targetPort: 8080 }]') + service('web-udp', '[{ name: udp-dns, port: 53, protocol: UDP }, { name: http-alt, port: 81, targetPort: 8080 }]');
  assert.deepEqual(found(yaml, 'IST0116').map((d) => d.message), ['This deployment web is associated with multiple services using port 53 but different protocols: [shop/web-tcp shop/web-udp]']);
  assert.deepEqual(found(yaml, 'IST0137').map((d) => d.message), ['This deployment web is associated with multiple services [shop/web-tcp shop/web-udp] using targetPort "8080" but different ports: [80 81].']);
  // Outside the mesh Istio does not look.
  assert.deepEqual(found(yaml.replace('istio-injection: enabled', 'istio-injection: disabled'), 'IST0116'), []);
});

test('IST0144 for a Pod too (analyzeAppUIDForPod), at the field; not for an Istio-labelled one', () => {
  const pod = (labels: string) => `apiVersion: v1
kind: Pod
metadata: { name: debug, namespace: shop, labels: { ${labels} } }
spec:
  securityContext: { runAsUser: 1337 }
  containers: [{ name: debug, image: curl, securityContext: { runAsUser: 1337 } }, { name: istio-proxy, image: auto, securityContext: { runAsUser: 1337 } }]
`;
  const diags = found(shop + pod('app: debug'), 'IST0144');
  assert.deepEqual(
    diags.map((d) => `${d.resource} ${d.field}: ${d.message}`),
    [
      'Pod shop/debug spec.securityContext.runAsUser: User ID (UID) 1337 is reserved for the sidecar proxy.',
      'Pod shop/debug spec.containers[0].securityContext.runAsUser: User ID (UID) 1337 is reserved for the sidecar proxy.',
    ],
  );
  assert.deepEqual(found(shop + pod('istio: debug'), 'IST0144'), []);
});

test('IST0116 and IST0137: a Service without selector, or an empty one, selects no Deployment (findMatchingServices)', () => {
  const selectorless = (name: string, selector: string) => `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: shop }
spec:
  ${selector}ports: [{ name: tcp-db, port: 53, protocol: TCP }, { name: http-alt, port: 81, targetPort: 8080 }]
---
`;
  const udp = service('web-udp', '[{ name: udp-dns, port: 53, protocol: UDP }, { name: http, port: 80, targetPort: 8080 }]');
  for (const s of [selectorless('legacy', ''), selectorless('legacy', 'selector: {}\n  '), selectorless('payments', 'type: ExternalName\n  externalName: api.example.com\n  ')]) {
    const yaml = shop + deployment() + udp + s;
    assert.deepEqual(found(yaml, 'IST0116'), []);
    assert.deepEqual(found(yaml, 'IST0137'), []);
  }
});

test('IST0116 and IST0137 sort the Service names and ports, as Istio does', () => {
  const yaml = shop + deployment() + service('web-z', '[{ name: udp-dns, port: 53, protocol: UDP }, { name: http, port: 81, targetPort: 8080 }]') + service('web-a', '[{ name: tcp-dns, port: 53, protocol: TCP }, { name: http-alt, port: 80, targetPort: 8080 }]');
  assert.deepEqual(found(yaml, 'IST0116').map((d) => d.message), ['This deployment web is associated with multiple services using port 53 but different protocols: [shop/web-a shop/web-z]']);
  assert.deepEqual(found(yaml, 'IST0137').map((d) => d.message), ['This deployment web is associated with multiple services [shop/web-a shop/web-z] using targetPort "8080" but different ports: [80 81].']);
});
