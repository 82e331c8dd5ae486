// A sidecar's ORIGINAL_DST cluster (a resolution NONE service): the proxy dials the original destination
// itself, never through a tunnel, so explain reports plaintext and what answers there, not mesh mTLS to
// an endpoint it would never reach (docs/security-mtls.md, "Passthrough services").
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { AnyResource } from '../../src/config/resource.ts';
import { explain } from '../../src/explain/explain.ts';
import { OfflineSource } from '../../src/explain/offline-source.ts';
import { parseExplainRequest } from '../../src/explain/parse-request.ts';

const mesh = `apiVersion: v1
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
metadata: {name: db, namespace: shop}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: podinfo, ports: [{containerPort: 8080}]}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: shop}
spec:
  hosts: [db.internal]
  addresses: [10.10.0.5]
  location: MESH_INTERNAL
  resolution: NONE
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]
  workloadSelector: {labels: {app: db}}
`;

test('explain: a resolution NONE service is sent to its original destination in plaintext, though its workloads have sidecars', async () => {
  const { resources, diagnostics } = loadText(mesh, 'mesh.yaml');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const trace = await explain(new OfflineSource(resources as AnyResource[]), { from: 'cart', request: parseExplainRequest('http://db.internal/', [], 'GET'), random: () => 0 });
  assert.equal(trace.source.route?.cluster, 'outbound|80||db.internal');
  assert.equal(trace.mtls?.clientUses, 'plaintext', JSON.stringify(trace.mtls));
  assert.equal(trace.outcome.status, undefined, JSON.stringify(trace.outcome));
  assert.match(trace.outcome.detail, /original destination db\.internal:80 \(plaintext\)/);
  assert.equal(trace.outcome.ifUnanswered?.flag, 'UF');
});
