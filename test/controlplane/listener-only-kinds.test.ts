// The control plane keeps the last snapshot's clusters, endpoints and sidecar routes when only
// listener-only kinds changed (LISTENER_ONLY_KINDS). That holds only if those kinds never reach those
// outputs: for every golden case, translation with and without them must agree on everything but
// listeners. And a Telemetry edit must reuse the very objects, while a DestinationRule edit must not.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { loadText } from '../../src/config/load.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import { loadGoldenCase } from '../../src/translate/golden.ts';
import { buildProxyResources, LISTENER_ONLY_KINDS, type ProxyResources } from '../../src/translate/proxy-resources.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';

const fixtures = path.join(import.meta.dirname, '../fixtures/translate');
const beyondListeners = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.RouteConfiguration];

const dumpBeyondListeners = (r: ProxyResources) => JSON.stringify(beyondListeners.map((t) => [t, [...(r.get(t) ?? new Map())]]));

const apiService = `apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec: { selector: { app: api }, ports: [{ name: http, port: 8080 }] }
`;

/** A JWT policy with a remote JWKS, and an AuthorizationPolicy on request principals: no golden has a RequestAuthentication. */
const jwtCase = `
${apiService}---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: jwt, namespace: shop }
spec:
  selector: { matchLabels: { app: api } }
  jwtRules: [{ issuer: https://issuer.example.com, jwksUri: https://issuer.example.com/jwks.json }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: need-jwt, namespace: shop }
spec:
  selector: { matchLabels: { app: api } }
  rules: [{ from: [{ source: { requestPrincipals: ["*"] } }] }]
`;

function cases(): { name: string; snapshot: ReturnType<typeof buildSnapshot>; proxies: ProxyView[] }[] {
  const out = readdirSync(fixtures).map((name) => ({ name, ...loadGoldenCase(path.join(fixtures, name)) }));
  const api: ProxyView = { id: 'sidecar~10.0.0.2~api-0.shop~shop.svc.cluster.local', role: 'sidecar', namespace: 'shop', workloadName: 'api', serviceAccount: 'api', labels: { app: 'api' }, ip: '10.0.0.2', appPorts: {} };
  out.push({ name: 'jwt', snapshot: buildSnapshot(loadText(jwtCase, 'jwt.yaml').resources, [], '1'), proxies: [api] });
  return out;
}

test('listener-only kinds never reach clusters, endpoints or routes, in any golden case or a JWT case', () => {
  const seen = new Set<string>();
  for (const { name, snapshot, proxies } of cases()) {
    const kept = snapshot.resources.filter((r) => !LISTENER_ONLY_KINDS.has(r.kind));
    for (const r of snapshot.resources) if (LISTENER_ONLY_KINDS.has(r.kind)) seen.add(r.kind);
    if (kept.length === snapshot.resources.length) continue;
    const without = buildSnapshot(kept, snapshot.workloads, '1');
    for (const p of proxies) {
      assert.equal(dumpBeyondListeners(buildProxyResources(without, p)), dumpBeyondListeners(buildProxyResources(snapshot, p)), `${name}: ${p.id}`);
    }
  }
  assert.deepEqual([...seen].sort(), [...LISTENER_ONLY_KINDS].sort(), 'the cases exercise every listener-only kind');
});

const mesh = (sampling: number, maxConnections: number) => `
${apiService}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: api, namespace: shop }
spec: { host: api, trafficPolicy: { connectionPool: { tcp: { maxConnections: ${maxConnections} } } } }
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh-default, namespace: istio-system }
spec: { tracing: [{ randomSamplingPercentage: ${sampling} }] }
`;

test('a Telemetry edit keeps the built clusters and routes; a DestinationRule edit rebuilds them', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'or-listener-only-'));
  const file = path.join(dir, 'mesh.yaml');
  writeFileSync(file, mesh(1, 10));
  const cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', rescanMs: 0, allowAnonymous: true, log: () => {} });
  try {
    // A workload the Service selects: it has an inbound cluster (with the service in its metadata) too.
    const view: ProxyView = { id: 'sidecar~10.0.0.1~api-0.shop~shop.svc.cluster.local', role: 'sidecar', namespace: 'shop', workloadName: 'api', serviceAccount: 'default', labels: { app: 'api' }, ip: '10.0.0.1', appPorts: { 8080: 41000 } };
    const first = cp.translateFor(view);
    const edit = async (text: string) => {
      writeFileSync(file, text);
      await cp.rescan();
      cp.flush();
      return cp.translateFor(view);
    };
    const telemetryEdit = await edit(mesh(50, 10));
    assert.notEqual(telemetryEdit.get(TypeUrl.Listener)?.get('virtualOutbound'), first.get(TypeUrl.Listener)?.get('virtualOutbound'));
    for (const t of beyondListeners) {
      for (const [name, r] of first.get(t) ?? []) assert.equal(telemetryEdit.get(t)?.get(name), r, `${t} ${name}: the same object after a Telemetry edit`);
    }
    // The workload's whole cluster map is kept, inbound clusters included: the encoder reuses its set as is.
    assert.ok(first.get(TypeUrl.Cluster)?.has('inbound|8080||'));
    assert.equal(telemetryEdit.get(TypeUrl.Cluster), first.get(TypeUrl.Cluster), 'the same cluster map after a Telemetry edit');
    const drEdit = await edit(mesh(50, 20));
    const cluster = 'outbound|8080||api.shop.svc.cluster.local';
    assert.notEqual(drEdit.get(TypeUrl.Cluster)?.get(cluster), telemetryEdit.get(TypeUrl.Cluster)?.get(cluster));
    assert.notEqual(drEdit.get(TypeUrl.Cluster), telemetryEdit.get(TypeUrl.Cluster), 'a new cluster map after a DestinationRule edit');
    assert.match(JSON.stringify(drEdit.get(TypeUrl.Cluster)?.get(cluster)), /"max_connections":\{"value":20\}/);
  } finally {
    await cp.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
