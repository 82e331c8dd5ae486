// Review of b0d547c: a DestinationRule SIMPLE (or MUTUAL) toward a workload with a sidecar now
// originates the rule's TLS, which the server sidecar passes to the app only on a TCP (or undeclared)
// PERMISSIVE/DISABLE port and refuses on an HTTP or STRICT port (503 UF: the running proxies do so,
// test/security/destination-rule-tls-origination.test.ts). explain and tls-check must say the same.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { AnyResource } from '../../src/config/resource.ts';
import { explain } from '../../src/explain/explain.ts';
import { OfflineSource } from '../../src/explain/offline-source.ts';
import { parseExplainRequest } from '../../src/explain/parse-request.ts';
import { computeTlsCheck } from '../../src/cli/tls-check.ts';

const mesh = (portName: string) => `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  template:
    metadata: {labels: {app: cart}}
    spec: {containers: [{name: cart, image: podinfo, ports: [{containerPort: 9898}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: podinfo, ports: [{containerPort: 9443}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, ports: [{name: ${portName}, port: 80, targetPort: 9443}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: shop}
spec: {host: api.shop.svc.cluster.local, trafficPolicy: {tls: {mode: SIMPLE, sni: api.example.com}}}
`;

function load(yaml: string): AnyResource[] {
  const { resources, diagnostics } = loadText(yaml, 'mesh.yaml');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  return resources as AnyResource[];
}

test('explain: SIMPLE toward a sidecar on a PERMISSIVE port declared HTTP is refused by the server sidecar (503 UF), as the proxies do', async () => {
  const trace = await explain(new OfflineSource(load(mesh('http'))), { from: 'cart', request: parseExplainRequest('http://api.shop/', [], 'GET'), random: () => 0 });
  assert.equal(trace.outcome.status, 503, JSON.stringify(trace.outcome));
  assert.equal(trace.outcome.flag, 'UF');
  assert.equal(trace.mtls?.conflict, true);
});

test('explain: SIMPLE toward a sidecar on a PERMISSIVE TCP port reaches the app (it terminates the TLS)', async () => {
  const trace = await explain(new OfflineSource(load(mesh('tcp'))), { from: 'cart', request: parseExplainRequest('http://api.shop/', [], 'GET'), random: () => 0 });
  assert.equal(trace.outcome.status, 200, JSON.stringify(trace.outcome));
  assert.equal(trace.mtls?.conflict, false);
});

test('tls-check: SIMPLE toward sidecars on an HTTP port is a conflict; on a TCP port it is not', () => {
  const rows = (portName: string) => {
    const source = new OfflineSource(load(mesh(portName)));
    return computeTlsCheck(source.mesh.snapshot).filter((r) => r.host === 'api.shop.svc.cluster.local');
  };
  assert.deepEqual(rows('http').map((r) => [r.client, r.server, r.conflict]), [['SIMPLE', 'PERMISSIVE', true]]);
  assert.deepEqual(rows('tcp').map((r) => [r.client, r.server, r.conflict]), [['SIMPLE', 'PERMISSIVE', false]]);
});
