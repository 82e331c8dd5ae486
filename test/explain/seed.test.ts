// Simulation tests for `explain`: the seed's YAML in, the decision out (routes, weights, mTLS,
// authorization layers), plus variations layered on top of it.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { loadPaths, loadText } from '../../src/config/load.ts';
import type { AnyResource } from '../../src/config/resource.ts';
import { explain } from '../../src/explain/explain.ts';
import { formatExplainText } from '../../src/explain/format-text.ts';
import { OfflineSource } from '../../src/explain/offline-source.ts';
import { parseExplainRequest } from '../../src/explain/parse-request.ts';

const seedDir = path.join(import.meta.dirname, '../../examples/seed');
const seed = loadPaths([seedDir]).resources as AnyResource[];

function withExtra(yaml: string): AnyResource[] {
  const { resources, diagnostics } = loadText(yaml, 'extra.yaml');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  return [...seed, ...resources];
}

const fixed = (...draws: number[]) => {
  let i = 0;
  return () => draws[Math.min(i++, draws.length - 1)] ?? 0;
};

async function run(resources: AnyResource[], from: string, to: string, headers: string[] = [], method = 'GET', draw = 0) {
  return explain(new OfflineSource(resources), { from, request: parseExplainRequest(to, headers, method), random: fixed(draw) });
}

const STABLE = 'outbound|9898|stable|podinfo.podinfo.svc.cluster.local';
const CANARY = 'outbound|9898|canary|podinfo.podinfo.svc.cluster.local';

test('X-Canary: true takes the canary-header route to the canary subset', async () => {
  const t = await run(seed, 'mesh-test-runner', 'http://podinfo.podinfo:9898/', ['X-Canary: true'], 'GET', 0.01);
  assert.equal(t.source.route?.route, 'canary-header');
  assert.equal(t.source.route?.cluster, CANARY);
  assert.deepEqual(t.source.route?.skipped, []);
  assert.equal(t.endpoint?.workload, 'podinfo-canary-0.podinfo');
  assert.equal(t.outcome.status, 200);
});

test('without headers the split applies: 90/10 weights, the draw picks the subset', async () => {
  const low = await run(seed, 'mesh-test-runner', 'http://podinfo.podinfo:9898/', [], 'GET', 0.5);
  assert.equal(low.source.route?.route, 'canary-split');
  assert.deepEqual(low.source.route?.clusters.map((c) => [c.name, c.weight, c.probability]), [
    [STABLE, 90, 90],
    [CANARY, 10, 10],
  ]);
  assert.equal(low.source.route?.cluster, STABLE);
  const high = await run(seed, 'mesh-test-runner', 'http://podinfo.podinfo:9898/', [], 'GET', 0.95);
  assert.equal(high.source.route?.cluster, CANARY);
  // Every earlier rule says why it was passed over, first failing condition first.
  assert.deepEqual(low.source.route?.skipped.map((s) => s.route), ['canary-header', 'ab-test-beta-users', 'ab-test-beta-users (match 2)']);
  assert.match(low.source.route?.skipped[0]?.failed ?? '', /x-canary.*no x-canary header/);
  assert.equal(low.source.route?.timeoutMs, 10_000);
  assert.deepEqual(low.source.route?.retries, { attempts: 3, perTryTimeoutMs: 2000, retryOn: '5xx,connect-failure,reset' });
});

test('a beta cookie reaches the canary through the second match of the A/B rule', async () => {
  const t = await run(seed, 'mesh-test-runner', 'http://podinfo.podinfo:9898/', ['Cookie: theme=dark; user=beta']);
  assert.equal(t.source.route?.route, 'ab-test-beta-users (match 2)');
  assert.equal(t.source.route?.cluster, CANARY);
});

test('mTLS on the hop: auto/ISTIO_MUTUAL client against STRICT, decided by the mesh-wide policy', async () => {
  const t = await run(seed, 'mesh-test-runner', 'http://podinfo.podinfo:9898/');
  assert.deepEqual(t.mtls, { client: 'ISTIO_MUTUAL', clientUses: 'mtls', server: 'STRICT', serverDecidedBy: 'PeerAuthentication istio-system/default', serverNames: ['spiffe://cluster.local/ns/podinfo/sa/podinfo'], conflict: false });
  assert.equal(t.destination?.filterChain, 'inbound|9898||');
});

test('zero trust: the test runner is allowed GET and denied DELETE by the allow layers', async () => {
  const get = await run(seed, 'mesh-test-runner', 'http://podinfo.podinfo:9898/');
  assert.equal(get.destination?.authorization?.decision, 'allowed');
  assert.equal(get.destination?.authorization?.decidedBy, 'podinfo/allow-service-to-service rule 0');
  const del = await run(seed, 'mesh-test-runner', 'http://podinfo.podinfo:9898/', [], 'DELETE');
  assert.equal(del.destination?.authorization?.decision, 'denied');
  assert.equal(del.destination?.authorization?.decidedBy, 'no ALLOW policy matched');
  assert.deepEqual([del.outcome.status, del.outcome.flag], [403, 'RBAC']);
});

const otherClient = `
apiVersion: v1
kind: Namespace
metadata: { name: other, labels: { istio-injection: enabled } }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: client, namespace: other }
spec:
  selector: { matchLabels: { app: client } }
  template:
    metadata: { labels: { app: client } }
    spec:
      serviceAccountName: client
      containers: [{ name: c, image: curlimages/curl:8.5.0, command: ["sleep", "infinity"] }]
`;

test('a caller without an allowed identity is denied, but health checks are allowed', async () => {
  const resources = withExtra(otherClient);
  const denied = await run(resources, 'client', 'http://podinfo.podinfo:9898/');
  assert.deepEqual([denied.outcome.status, denied.outcome.flag], [403, 'RBAC']);
  const health = await run(resources, 'other/client', 'http://podinfo.podinfo:9898/healthz');
  assert.equal(health.outcome.status, 200);
  assert.equal(health.destination?.authorization?.decidedBy, 'istio-system/allow-health-checks rule 0');
  // Normalised before authorization: a dot segment cannot smuggle a path past the health rule.
  const sneaky = await run(resources, 'client', 'http://podinfo.podinfo:9898/healthz/../env');
  assert.equal(sneaky.destination?.normalizedPath, '/env');
  assert.equal(sneaky.outcome.status, 403);
});

test('from the ingress: the gateway policy and then the destination policy allow it', async () => {
  const t = await run(seed, 'ingress', 'http://podinfo.example.com/', ['X-Canary: true']);
  assert.equal(t.source.listener, '0.0.0.0_8080');
  // Named after the Gateway server's port (80), as Istio names it, not the pod's (8080).
  assert.equal(t.source.route?.virtualHost, 'podinfo.example.com:80');
  assert.equal(t.source.authorization?.decidedBy, 'istio-system/allow-ingress-gateway rule 0');
  assert.equal(t.destination?.authorization?.decidedBy, 'podinfo/allow-from-ingress-gateway rule 0');
  assert.equal(t.outcome.status, 200);
  assert.match(formatExplainText(t), /route canary-header: MATCHED/);
});

test('an unknown host on a mesh port goes to allow_any and passes through (outboundTrafficPolicy ALLOW_ANY)', async () => {
  const t = await run(seed, 'mesh-test-runner', 'http://nothing.example:9898/');
  assert.equal(t.source.route?.virtualHost, 'allow_any');
  assert.equal(t.source.route?.cluster, 'PassthroughCluster');
  // What answers at the original destination decides the status: explain names none, only the
  // source proxy's reply when nothing answers there, as the proxy gives it (503 UF).
  assert.equal(t.outcome.status, undefined);
  assert.match(t.outcome.detail, /passed through to the original destination nothing\.example:9898/);
  assert.deepEqual([t.outcome.ifUnanswered?.status, t.outcome.ifUnanswered?.flag], [503, 'UF']);
  const text = formatExplainText(t);
  assert.match(text, /^outcome: the original destination's answer: /m);
  assert.match(text, /^ {2}if nothing answers there: 503 UF: /m);
  assert.doesNotMatch(text, /^outcome: 200/m);
});

test('a DestinationRule turning TLS off against STRICT is a conflict: 503 UC, the plaintext connection closed under the request', async () => {
  const dr = `
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: plain, namespace: podinfo }
spec:
  host: podinfo-stable.podinfo.svc.cluster.local
  trafficPolicy: { tls: { mode: DISABLE } }
`;
  const t = await run(withExtra(dr), 'mesh-test-runner', 'http://podinfo-stable.podinfo:9898/');
  assert.equal(t.mtls?.client, 'DISABLE');
  assert.equal(t.mtls?.conflict, true);
  assert.deepEqual([t.outcome.status, t.outcome.flag], [503, 'UC']);
});

test('secure naming: a DestinationRule naming accounts the destination does not hold is a 503 UF at the source', async () => {
  const dr = `
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: named, namespace: podinfo }
spec:
  host: podinfo-stable.podinfo.svc.cluster.local
  trafficPolicy: { tls: { mode: ISTIO_MUTUAL, subjectAltNames: ["spiffe://cluster.local/ns/billing/sa/billing"] } }
`;
  const t = await run(withExtra(dr), 'mesh-test-runner', 'http://podinfo-stable.podinfo:9898/');
  assert.deepEqual(t.mtls?.serverNames, ['spiffe://cluster.local/ns/billing/sa/billing']);
  assert.deepEqual([t.outcome.status, t.outcome.flag], [503, 'UF']);
  assert.match(t.outcome.detail, /presents spiffe:\/\/cluster\.local\/ns\/podinfo\/sa\/[a-z-]+, not one of .*'s accounts \(secure naming\)/);
  assert.match(formatExplainText(t), /secure naming: the server must present one of spiffe:\/\/cluster\.local\/ns\/billing\/sa\/billing/);
});

test('a fault abort in the VirtualService answers from the source proxy: 503 FI', async () => {
  const vs = `
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: stable-fault, namespace: podinfo }
spec:
  hosts: [podinfo-stable.podinfo.svc.cluster.local]
  http:
    - fault: { abort: { httpStatus: 503, percentage: { value: 50 } } }
      route: [{ destination: { host: podinfo-stable.podinfo.svc.cluster.local } }]
`;
  const hit = await run(withExtra(vs), 'mesh-test-runner', 'http://podinfo-stable.podinfo:9898/', [], 'GET', 0.1);
  assert.deepEqual(hit.source.route?.fault, { abort: { status: 503, percent: 50, applied: true } });
  assert.deepEqual([hit.outcome.status, hit.outcome.flag], [503, 'FI']);
  const miss = await run(withExtra(vs), 'mesh-test-runner', 'http://podinfo-stable.podinfo:9898/', [], 'GET', 0.9);
  assert.equal(miss.source.route?.fault?.abort?.applied, false);
  assert.equal(miss.outcome.status, 200);
});

test('a VirtualService rewrite is shown on the matched route: path and authority before and after', async () => {
  const vs = `
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: stable-rewrite, namespace: podinfo }
spec:
  hosts: [podinfo-stable.podinfo.svc.cluster.local]
  http:
    - match: [{ uri: { prefix: /v2/ } }]
      rewrite: { uri: /api/, authority: api.podinfo }
      route: [{ destination: { host: podinfo-stable.podinfo.svc.cluster.local } }]
`;
  const t = await run(withExtra(vs), 'mesh-test-runner', 'http://podinfo-stable.podinfo:9898/v2/info?x=1');
  assert.equal(t.source.route?.upstreamPath, '/api/info?x=1');
  const text = formatExplainText(t);
  assert.match(text, /rewrite path \/v2\/info\?x=1 → \/api\/info\?x=1/);
  assert.match(text, /rewrite authority podinfo-stable\.podinfo:9898 → api\.podinfo/);
  // No rewrite, no rewrite line.
  assert.doesNotMatch(formatExplainText(await run(seed, 'mesh-test-runner', 'http://podinfo.podinfo:9898/x')), /rewrite/);
});
