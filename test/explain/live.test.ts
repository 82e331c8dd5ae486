// `explain --live` against a debug API on a real socket that serves the seed's translated config in the
// control plane's config_dump shape: the trace must equal the offline one.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { loadPaths } from '../../src/config/load.ts';
import type { AnyResource } from '../../src/config/resource.ts';
import { explain } from '../../src/explain/explain.ts';
import { formatExplainText } from '../../src/explain/format-text.ts';
import { debugFetcher, LiveSource } from '../../src/explain/live-source.ts';
import { OfflineSource } from '../../src/explain/offline-source.ts';
import { parseExplainRequest } from '../../src/explain/parse-request.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';

const seed = loadPaths([path.join(import.meta.dirname, '../../examples/seed')]).resources as AnyResource[];

async function fakeDebugApi(offline: OfflineSource): Promise<{ address: string; close(): void }> {
  const proxies = offline.mesh.proxies;
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (url.pathname === '/debug/syncz') return send(200, proxies.map((p) => ({ proxy: p.view.id, name: p.identity.name, namespace: p.view.namespace, workload: p.view.workloadName, generator: 'envoy', types: {} })));
    if (url.pathname === '/debug/registryz') return send(200, offline.mesh.snapshot.workloads);
    if (url.pathname === '/debug/authenticationz') {
      // The control plane answers from its snapshot with the function offline uses (src/controlplane/debug-api.ts).
      const p = proxies.find((x) => x.identity.name === url.searchParams.get('proxyID'));
      if (!p) return send(404, { error: 'no such proxy' });
      return send(200, offline.serverMtls(p.identity, Number(url.searchParams.get('port'))));
    }
    if (url.pathname === '/debug/configz') return send(200, { version: offline.mesh.snapshot.version, trustDomain: offline.mesh.snapshot.mesh.trustDomain, resources: [], held: [], diagnostics: [] });
    if (url.pathname === '/debug/config_dump') {
      const p = proxies.find((x) => x.identity.name === url.searchParams.get('proxyID'));
      if (!p) return send(404, { error: 'no such proxy' });
      const r = await offline.resources(p.identity);
      const list = (t: string) => [...(r.get(t)?.values() ?? [])];
      return send(200, {
        configs: [
          { dynamic_active_clusters: list(TypeUrl.Cluster).map((cluster) => ({ cluster })) },
          { dynamic_listeners: list(TypeUrl.Listener).map((listener) => ({ name: listener['name'], active_state: { listener } })) },
          { dynamic_route_configs: list(TypeUrl.RouteConfiguration).map((route_config) => ({ route_config })) },
          { dynamic_endpoint_configs: list(TypeUrl.ClusterLoadAssignment).map((endpoint_config) => ({ endpoint_config })) },
        ],
      });
    }
    return send(404, { error: 'not found' });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

test('live and offline explanations agree (canary header, split, denial)', async () => {
  const offline = new OfflineSource(seed);
  const api = await fakeDebugApi(offline);
  try {
    const live = new LiveSource(debugFetcher(api.address, 5000));
    for (const [from, headers, method] of [
      ['mesh-test-runner', ['X-Canary: true'], 'GET'],
      ['mesh-test-runner-0.istio-system', [], 'GET'],
      ['ingress', [], 'DELETE'],
    ] as const) {
      const to = from === 'ingress' ? 'http://podinfo.example.com/' : 'http://podinfo.podinfo:9898/';
      const opts = { from, request: parseExplainRequest(to, [...headers], method), random: () => 0.3 };
      const a = await explain(offline, opts);
      const b = await explain(live, opts);
      assert.deepEqual(b.source.route, a.source.route);
      assert.deepEqual(b.destination?.authorization, a.destination?.authorization);
      assert.deepEqual(b.outcome, a.outcome);
      // Live names the PeerAuthentication that decided the server's mode, as offline does.
      assert.equal(b.mtls?.server, a.mtls?.server);
      assert.equal(b.mtls?.serverDecidedBy, a.mtls?.serverDecidedBy);
      assert.match(formatExplainText(b), /server STRICT \(PeerAuthentication istio-system\/default\)/);
    }
    const denied = await explain(live, { from: 'ingress', request: parseExplainRequest('http://podinfo.example.com/', [], 'DELETE'), random: () => 0.3 });
    assert.deepEqual([denied.outcome.status, denied.outcome.flag], [403, 'RBAC']);
  } finally {
    api.close();
  }
});

test('live explain names workloads in the trust domain the control plane reports, so secure naming agrees with offline', async () => {
  const resources = seed.map((r) =>
    r.kind === 'IstioOperator' && (r as { spec: { meshConfig?: object } }).spec.meshConfig
      ? ({ ...r, spec: { ...(r as { spec: object }).spec, meshConfig: { ...(r as { spec: { meshConfig: object } }).spec.meshConfig, trustDomain: 'example.org' } } } as AnyResource)
      : r,
  );
  const offline = new OfflineSource(resources);
  assert.equal(offline.mesh.snapshot.mesh.trustDomain, 'example.org');
  const api = await fakeDebugApi(offline);
  try {
    const opts = { from: 'mesh-test-runner', request: parseExplainRequest('http://podinfo.podinfo:9898/', [], 'GET'), random: () => 0.3 };
    const a = await explain(offline, opts);
    const b = await explain(new LiveSource(debugFetcher(api.address, 5000)), opts);
    assert.deepEqual(b.mtls?.serverNames, ['spiffe://example.org/ns/podinfo/sa/podinfo']);
    assert.deepEqual(b.outcome, a.outcome);
    assert.notEqual(b.outcome.flag, 'UF');
  } finally {
    api.close();
  }
});
