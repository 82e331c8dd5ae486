// The destination service labels of a request no upstream host answered (503 UO, UH, NC; 404 NR), through
// a real proxy, as Istio's stats filter gives them (istio/proxy istio_stats.cc, populatePeerInfo):
// `destination_service`, `destination_service_name` and, since Istio 1.23 (istio/proxy#5617, for
// istio/istio#49842), `destination_service_namespace` come from the routed cluster's
// `filter_metadata.istio.services[0]` (host, name, namespace), which Envoy's connection manager sets as soon
// as a route names a cluster the proxy has (ActiveStream::setRoute: setUpstreamClusterInfo), host or no
// host. The workload labels stay the peer's: `unknown` without one. No cluster (NC: it does not exist; NR: no
// route) leaves the Host header fallback, as the client sent it, or `unknown` where it is disabled (gateways).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { type TypedAny, toStruct } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { telemetryConfig } from './drive-filter.ts';
import { parseExposition } from '../../src/dashboard/exposition.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
/** Requests the backend holds, to fill the circuit breaker. */
const held: http.ServerResponse[] = [];
const dir = mkdtempSync(path.join(tmpdir(), 'or-no-host-'));
const logFile = path.join(dir, 'access.log');

const podinfo = 'outbound|9898|stable|podinfo.podinfo.svc.cluster.local';
// A ServiceEntry's cluster: its host names no namespace; the metadata does (the ServiceEntry's).
const external = 'outbound|443||api.partner.example';
const empty = 'outbound|9898|canary|podinfo.podinfo.svc.cluster.local';

function withServices(c: TypedAny, services: { host: string; name: string; namespace: string }[]): TypedAny {
  return { ...c, metadata: { filter_metadata: { istio: toStruct({ services }) } } };
}

function stats(workload: string, namespace: string, gateway: boolean): TypedAny {
  // The gateway logs each request's flags and %UPSTREAM_CLUSTER%.
  const log = gateway ? { access_log: { path: logFile, encoding: 'TEXT' as const, format: '%RESPONSE_FLAGS% %UPSTREAM_CLUSTER%\n' } } : {};
  return {
    ...hcm('r'),
    http_filters: [
      { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'source', workload: { workload, namespace, labels: { app: workload } }, metrics: true, ...(gateway ? { disable_host_header_fallback: true } : {}), ...log }) },
      { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
    ],
  };
}

before(async () => {
  backend = await echoBackend((req, res) => {
    req.resume();
    if (req.url === '/hold') held.push(res);
    else res.end('ok');
  });
  env = await startProxy();
  push(env.proxy, [
    withServices(cluster(podinfo, { maxRequests: 1 }), [{ host: 'podinfo.podinfo.svc.cluster.local', name: 'podinfo', namespace: 'podinfo' }]),
    cla(podinfo, [{ port: backend.port }]),
    withServices(cluster(external, { maxRequests: 1 }), [{ host: 'api.partner.example', name: 'api.partner.example', namespace: 'shop' }]),
    cla(external, [{ port: backend.port }]),
    withServices(cluster(empty), [{ host: 'podinfo.podinfo.svc.cluster.local', name: 'podinfo', namespace: 'podinfo' }]),
    cla(empty, []),
    listener('gateway', 8080, [{ filter: stats('istio-ingressgateway', 'istio-system', true) }]),
    listener('sidecar', 15001, [{ filter: stats('sleep', 'shop', false) }]),
    routeConfig('r', [
      {
        domains: ['podinfo.example.com', 'podinfo.podinfo:9898'],
        routes: [
          { prefix: '/canary', cluster: empty },
          { prefix: '/gone', cluster: 'outbound|9898|gone|podinfo.podinfo.svc.cluster.local' },
          { prefix: '/', cluster: podinfo },
        ],
      },
      { domains: ['api.partner.example'], routes: [{ prefix: '/', cluster: external }] },
    ]),
  ]);
});

after(async () => {
  for (const r of held) r.end();
  await env.close();
  backend.server.closeAllConnections();
  backend.server.close();
  rmSync(dir, { recursive: true, force: true });
});

type Labels = Record<string, string>;

/** The labels of each istio_requests_total series, read with the dashboard's exposition parser. */
async function requestsTotal(): Promise<Labels[]> {
  const text = (await request(env.admin, '/stats/prometheus')).body;
  return parseExposition(text, (name) => name === 'istio_requests_total').map((s) => s.labels);
}

/** The labels named in `want` of the one series of `source_workload` with `response_flags`. */
async function labelsOf(workload: string, flags: string, want: Labels): Promise<Labels> {
  const all = (await requestsTotal()).filter((s) => s['source_workload'] === workload && s['response_flags'] === flags);
  assert.equal(all.length, 1, `one ${workload} series with ${flags}: ${JSON.stringify(all)}`);
  const s = all[0] ?? {};
  return Object.fromEntries(Object.keys(want).map((k) => [k, s[k] ?? '(absent)']));
}

/** Fills the cluster's one request slot, then sends a request the breaker refuses (503 UO). */
async function overflow(port: number, host: string): Promise<void> {
  const first = request(port, '/hold', { host });
  while (held.length === 0) await new Promise((r) => setTimeout(r, 5));
  const res = await request(port, '/', { host });
  assert.equal(res.status, 503);
  assert.equal(res.headers['x-envoy-overloaded'], 'true');
  held.shift()?.end('released');
  assert.equal((await first).status, 200);
}

test('gateway, circuit breaker overflow (503 UO): the routed service, its name and its namespace, no workload', async () => {
  await overflow(await env.port('gateway'), 'podinfo.example.com');
  const want = {
    destination_service: 'podinfo.podinfo.svc.cluster.local',
    destination_service_name: 'podinfo',
    destination_service_namespace: 'podinfo',
    destination_workload: 'unknown',
    destination_workload_namespace: 'unknown',
    destination_canonical_service: 'unknown',
    response_code: '503',
  };
  assert.deepEqual(await labelsOf('istio-ingressgateway', 'UO', want), want);
});

test('gateway, no healthy upstream (503 UH): the same, from the cluster with no endpoint', async () => {
  const res = await request(await env.port('gateway'), '/canary', { host: 'podinfo.example.com' });
  assert.equal(res.status, 503);
  const want = { destination_service: 'podinfo.podinfo.svc.cluster.local', destination_service_name: 'podinfo', destination_service_namespace: 'podinfo', destination_workload: 'unknown' };
  assert.deepEqual(await labelsOf('istio-ingressgateway', 'UH', want), want);
});

test("sidecar, a ServiceEntry host's overflow: the namespace is the metadata's (the ServiceEntry's), which its host does not name", async () => {
  await overflow(await env.port('sidecar'), 'api.partner.example');
  const want = { destination_service: 'api.partner.example', destination_service_name: 'api.partner.example', destination_service_namespace: 'shop', destination_workload: 'unknown' };
  assert.deepEqual(await labelsOf('sleep', 'UO', want), want);
});

test('a route to a cluster the proxy does not have (503 NC): no cluster, so no service but the Host fallback (unknown on a gateway)', async () => {
  assert.equal((await request(await env.port('gateway'), '/gone', { host: 'podinfo.example.com' })).status, 503);
  const gw = { destination_service: 'unknown', destination_service_name: 'unknown', destination_service_namespace: 'unknown' };
  assert.deepEqual(await labelsOf('istio-ingressgateway', 'NC', gw), gw);
  assert.equal((await request(await env.port('sidecar'), '/gone', { host: 'podinfo.podinfo:9898' })).status, 503);
  const sidecar = { destination_service: 'podinfo.podinfo:9898', destination_service_name: 'podinfo.podinfo:9898', destination_service_namespace: 'unknown' };
  assert.deepEqual(await labelsOf('sleep', 'NC', sidecar), sidecar);
  // Nor does the access log name one: Envoy's %UPSTREAM_CLUSTER% reads the stream's cluster info.
  const end = Date.now() + 2000;
  const logged = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n') : []);
  while (!logged().some((l) => l.startsWith('NC ')) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(
    logged().filter((l) => l.startsWith('NC ') || l.startsWith('UO ')),
    ['UO outbound|9898|stable|podinfo.podinfo.svc.cluster.local', 'NC -'],
  );
});

test('sidecar, no route (404 NR): the Host header as the client sent it, its case kept (Envoy reads the header)', async () => {
  assert.equal((await request(await env.port('sidecar'), '/', { host: 'NoSuch.Example.COM:8080' })).status, 404);
  const want = { destination_service: 'NoSuch.Example.COM:8080', destination_service_name: 'NoSuch.Example.COM:8080', destination_service_namespace: 'unknown' };
  assert.deepEqual(await labelsOf('sleep', 'NR', want), want);
});
