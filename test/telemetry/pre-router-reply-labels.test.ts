// The destination service labels of a request the source's proxy answers itself before its router runs
// (a fault-injected abort, FI; an RBAC or ext_authz denial), through a real proxy, as Istio's do. Envoy's connection
// manager resolves the route when the request headers arrive, before any filter (ActiveStream::
// refreshCachedRoute, from decodeHeaders); the route match returns the chosen cluster's entry, a weighted
// cluster drawn then (RouteEntryImplBase::clusterEntry → pickWeightedCluster), and setRoute records that
// cluster's info on the stream (setUpstreamClusterInfo) when the proxy has it. Istio's stats filter
// (istio_stats.cc) names the service from that cluster's `filter_metadata.istio.services[0]`: so an abort
// or a denial is labelled with the route's service, its name and namespace, not the Host fallback (nor
// `unknown` on a gateway). The router then sends to that same choice. The draws are the test's: the route
// match, the weighted choice, then the fault filter's, each from the one injected random.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { type TypedAny, toStruct } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { telemetryConfig } from './drive-filter.ts';
import { parseExposition } from '../../src/dashboard/exposition.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let stable: Awaited<ReturnType<typeof echoBackend>>;
let next: Awaited<ReturnType<typeof echoBackend>>;
/** The ext_authz HTTP service: denies a request whose path names `denied`. */
let authz: Awaited<ReturnType<typeof echoBackend>>;
/** Every draw of the proxy's random (route match, weighted choice, fault percentage). */
let draw = 0;
const dir = mkdtempSync(path.join(tmpdir(), 'or-pre-router-'));
const logFile = path.join(dir, 'access.log');

// A 50/50 split across two services (a VirtualService's weighted destinations), each cluster with its
// `istio.services` metadata as pilot sets it.
const podinfo = 'outbound|9898|stable|podinfo.podinfo.svc.cluster.local';
const podinfoNext = 'outbound|9898||podinfo-next.canary.svc.cluster.local';
const PODINFO = { destination_service: 'podinfo.podinfo.svc.cluster.local', destination_service_name: 'podinfo', destination_service_namespace: 'podinfo' };
const NEXT = { destination_service: 'podinfo-next.canary.svc.cluster.local', destination_service_name: 'podinfo-next', destination_service_namespace: 'canary' };

function withServices(c: TypedAny, services: { host: string; name: string; namespace: string }[]): TypedAny {
  return { ...c, metadata: { filter_metadata: { istio: toStruct({ services }) } } };
}

const ALL = { numerator: 100, denominator: 'HUNDRED' };

/** Istio's order: ext_authz (a CUSTOM policy), RBAC (DENY), fault, stats, router. */
function chain(workload: string, namespace: string, gateway: boolean): TypedAny {
  const log = gateway ? { access_log: { path: logFile, encoding: 'TEXT' as const, format: '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_CLUSTER%\n' } } : {};
  return hcm('r', {
    http_filters: [
      { name: 'envoy.filters.http.ext_authz', typed_config: { '@type': TypeUrl.ExtAuthz, http_service: { server_uri: { uri: 'http://authz', cluster: 'authz', timeout: '1s' } } } },
      {
        name: 'envoy.filters.http.rbac',
        typed_config: { '@type': TypeUrl.HttpRbac, rules: { action: 'DENY', policies: { 'ns[istio-system]-policy[no-delete]-rule[0]': { permissions: [{ header: { name: ':method', string_match: { exact: 'DELETE' } } }], principals: [{ any: true }] } } } },
      },
      { name: 'envoy.filters.http.fault', typed_config: { '@type': TypeUrl.HttpFault, abort: { http_status: 503, percentage: ALL }, headers: [{ name: 'x-fault', present_match: true }] } },
      { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'source', workload: { workload, namespace, labels: { app: workload } }, metrics: true, ...(gateway ? { disable_host_header_fallback: true } : {}), ...log }) },
      { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
    ],
  });
}

before(async () => {
  stable = await echoBackend((req, res) => {
    req.resume();
    res.end('stable');
  });
  next = await echoBackend((req, res) => {
    req.resume();
    res.end('next');
  });
  authz = await echoBackend((req, res) => {
    req.resume();
    res.statusCode = req.url?.includes('denied') ? 403 : 200;
    res.end();
  });
  env = await startProxy({ random: () => draw });
  push(env.proxy, [
    cluster('authz'),
    cla('authz', [{ port: authz.port }]),
    withServices(cluster(podinfo), [{ host: 'podinfo.podinfo.svc.cluster.local', name: 'podinfo', namespace: 'podinfo' }]),
    cla(podinfo, [{ port: stable.port }]),
    withServices(cluster(podinfoNext), [{ host: 'podinfo-next.canary.svc.cluster.local', name: 'podinfo-next', namespace: 'canary' }]),
    cla(podinfoNext, [{ port: next.port }]),
    listener('gateway', 8080, [{ filter: chain('istio-ingressgateway', 'istio-system', true) }]),
    listener('sidecar', 15001, [{ filter: chain('sleep', 'shop', false) }]),
    routeConfig('r', [
      {
        domains: ['podinfo.example.com', 'podinfo.podinfo:9898'],
        routes: [
          {
            prefix: '/',
            weighted: [
              { name: podinfo, weight: 50 },
              { name: podinfoNext, weight: 50 },
            ],
          },
        ],
      },
    ]),
  ]);
});

after(async () => {
  await env.close();
  for (const b of [stable, next, authz]) {
    b.server.closeAllConnections();
    b.server.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

type Labels = Record<string, string>;

/** The labels of each istio_requests_total series, read with the dashboard's exposition parser. */
async function requestsTotal(): Promise<Labels[]> {
  const text = (await request(env.admin, '/stats/prometheus')).body;
  return parseExposition(text, (name) => name === 'istio_requests_total').map((s) => s.labels);
}

/** The labels named in `want` of each series of `source_workload` with `response_flags`, by destination_service. */
async function labelsOf(workload: string, flags: string, want: Labels): Promise<Labels[]> {
  const all = (await requestsTotal()).filter((s) => s['source_workload'] === workload && s['response_flags'] === flags);
  return all.map((s) => Object.fromEntries(Object.keys(want).map((k) => [k, s[k] ?? '(absent)']))).sort((a, b) => String(a['destination_service']).localeCompare(String(b['destination_service'])));
}

async function logged(p: string): Promise<string[]> {
  const end = Date.now() + 2000;
  const lines = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n') : []).filter((l) => l.startsWith(`${p} `));
  while (lines().length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return lines();
}

test('sidecar, a fault-injected abort (503 FI) on a weighted route: the drawn cluster\'s service, name and namespace, not the Host', async () => {
  const port = await env.port('sidecar');
  for (const d of [0.25, 0.75]) {
    draw = d;
    const res = await request(port, '/', { host: 'podinfo.podinfo:9898', headers: { 'x-fault': '1' } });
    assert.equal(res.status, 503);
    assert.equal(res.body, 'fault filter abort');
  }
  const want = { ...PODINFO, destination_workload: 'unknown', destination_workload_namespace: 'unknown', destination_canonical_service: 'unknown', response_code: '503', source_workload_namespace: 'shop' };
  assert.deepEqual(await labelsOf('sleep', 'FI', want), [
    { ...want, ...NEXT },
    { ...want, ...PODINFO },
  ]);
});

test('gateway, an RBAC denial (403): the route\'s service where the Host fallback is off, not `unknown`', async () => {
  draw = 0.75;
  const res = await request(await env.port('gateway'), '/deny', { method: 'DELETE', host: 'podinfo.example.com' });
  assert.equal(res.status, 403);
  const want = { ...NEXT, destination_workload: 'unknown', response_code: '403' };
  assert.deepEqual(await labelsOf('istio-ingressgateway', 'RBAC', want), [want]);
  // The access log's %UPSTREAM_CLUSTER% reads the same stream cluster info, as Envoy's formatter does.
  assert.deepEqual(await logged('/deny'), [`/deny 403 RBAC ${podinfoNext}`]);
});

test('sidecar, an ext_authz denial (403 UAEX): the drawn cluster\'s service, not the Host', async () => {
  draw = 0.25;
  const res = await request(await env.port('sidecar'), '/denied', { host: 'podinfo.podinfo:9898' });
  assert.equal(res.status, 403);
  const want = { ...PODINFO, destination_workload: 'unknown', response_code: '403' };
  assert.deepEqual(await labelsOf('sleep', 'UAEX', want), [want]);
});

test('gateway, a fault-injected abort: the same, and the router sends a request that passes the filters to the cluster chosen with the route', async () => {
  const port = await env.port('gateway');
  draw = 0.25;
  assert.equal((await request(port, '/abort', { host: 'podinfo.example.com', headers: { 'x-fault': '1' } })).status, 503);
  const want = { ...PODINFO, response_code: '503' };
  assert.deepEqual(await labelsOf('istio-ingressgateway', 'FI', want), [want]);
  assert.deepEqual(await logged('/abort'), [`/abort 503 FI ${podinfo}`]);
  for (const [d, body, cluster] of [
    [0.25, 'stable', podinfo],
    [0.75, 'next', podinfoNext],
  ] as const) {
    draw = d;
    const res = await request(port, `/pass-${body}`, { host: 'podinfo.example.com' });
    assert.equal(res.status, 200);
    assert.equal(res.body, body);
    assert.deepEqual(await logged(`/pass-${body}`), [`/pass-${body} 200 - ${cluster}`]);
  }
  const ok = await labelsOf('istio-ingressgateway', '-', { ...PODINFO, response_code: '' });
  assert.deepEqual(
    ok.filter((s) => s['response_code'] === '200').map((s) => s['destination_service']),
    [NEXT.destination_service, PODINFO.destination_service],
  );
});
