// The seed's zero-trust layers (examples/seed/01-mtls-security.yaml) through translation and a real
// proxy: podinfo's inbound port behind mutual TLS (callers identified by their certificates) and the
// ingress gateway's edge port. Each layer allows exactly what it says; deny-all refuses the rest.
import assert from 'node:assert/strict';
import https from 'node:https';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { AuthorizationPolicy } from '../../src/config/resource.ts';
import { loadPaths } from '../../src/config/load.ts';
import { type AuthorizationTarget, translateAuthorization } from '../../src/translate/authorization.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from '../proxy/certs.ts';
import { cla, cluster, echoBackend, hcm, push, request, routeConfig, type SimpleResponse, startProxy } from '../proxy/harness.ts';

const SEED = path.join(import.meta.dirname, '../../examples/seed/01-mtls-security.yaml');
const td = 'cluster.local';
const spiffe = (ns: string, sa: string) => `spiffe://${td}/ns/${ns}/sa/${sa}`;
const CALLERS = {
  podinfo: spiffe('podinfo', 'podinfo'),
  runner: spiffe('istio-system', 'mesh-test-runner'),
  gateway: spiffe('istio-system', 'istio-ingressgateway-service-account'),
  prometheus: spiffe('monitoring', 'prometheus'),
  outsider: spiffe('default', 'sleep'),
};
type Caller = keyof typeof CALLERS;

const PODINFO: AuthorizationTarget = { workloadLabels: { app: 'podinfo' }, namespace: 'podinfo', rootNamespace: 'istio-system', trustDomain: td };
const GATEWAY: AuthorizationTarget = { workloadLabels: { istio: 'ingressgateway', app: 'istio-ingressgateway' }, namespace: 'istio-system', rootNamespace: 'istio-system', trustDomain: td };
const BACKEND = 'inbound|9898||';

let env: Awaited<ReturnType<typeof startProxy>>;
let echo: Awaited<ReturnType<typeof echoBackend>>;
let policies: AuthorizationPolicy[] = [];
const certs = new Map<Caller, { cert: string; key: string }>();
let ca = '';
const ports = new Map<string, number>();

function httpFilters(target: AuthorizationTarget): { name: string; typed_config: TypedAny }[] {
  return [...translateAuthorization(policies, target).http, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }];
}

const mtls: TypedAny = {
  '@type': TypeUrl.DownstreamTlsContext,
  require_client_certificate: { value: true },
  common_tls_context: {
    tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: { ads: {} } }],
    combined_validation_context: { default_validation_context: {}, validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: { ads: {} } } },
    alpn_protocols: ['http/1.1'],
  },
};

function listener(name: string, port: number, target: AuthorizationTarget, tls: boolean): TypedAny {
  return {
    '@type': TypeUrl.Listener,
    name,
    address: { socket_address: { address: '0.0.0.0', port_value: port } },
    filter_chains: [
      {
        filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm(BACKEND, { http_filters: httpFilters(target) }) }],
        ...(tls ? { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: mtls } } : {}),
      },
    ],
  };
}

before(async () => {
  const loaded = await loadPaths([SEED]);
  assert.deepEqual(loaded.diagnostics.filter((d) => d.severity === 'error'), []);
  policies = loaded.resources.filter((r): r is AuthorizationPolicy => r.kind === 'AuthorizationPolicy');
  assert.equal(policies.length, 6, 'deny-all and the five allow layers');
  const authority = await makeCa();
  ca = authority.ca;
  for (const [name, id] of Object.entries(CALLERS)) certs.set(name as Caller, await authority.issue(id));
  const own = await authority.issue(spiffe('podinfo', 'podinfo'));
  echo = await echoBackend();
  env = await startProxy({ metadata: { NAMESPACE: 'podinfo', WORKLOAD_NAME: 'podinfo-stable', LABELS: { app: 'podinfo' } } });
  push(env.proxy, [
    cluster(BACKEND),
    cla(BACKEND, [{ port: echo.port }]),
    routeConfig(BACKEND, [{ domains: ['*'], routes: [{ prefix: '/', cluster: BACKEND }] }]),
    // podinfo's service port, and another port of the same workload (Layer 3 names 9898 only).
    listener('podinfo-9898', 9898, PODINFO, true),
    listener('podinfo-9797', 9797, PODINFO, true),
    // The ingress gateway's edge ports (Layer 4a) and one it does not open.
    listener('gateway-8080', 8080, GATEWAY, false),
    listener('gateway-9000', 9000, GATEWAY, false),
    { '@type': TypeUrl.Secret, name: 'default', tls_certificate: { certificate_chain: { inline_string: own.cert }, private_key: { inline_string: own.key } } },
    { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca } } },
  ]);
  for (const name of ['podinfo-9898', 'podinfo-9797', 'gateway-8080', 'gateway-9000']) ports.set(name, await env.port(name));
});

after(async () => {
  await env.close();
  echo.server.close();
});

/** One mTLS request as `caller`, asking for the denial receipt. */
function call(caller: Caller, method: string, urlPath: string, listenerName = 'podinfo-9898'): Promise<SimpleResponse> {
  const { cert, key } = certs.get(caller)!;
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: ports.get(listenerName), path: urlPath, method, cert, key, ca, agent: false, checkServerIdentity: () => undefined, headers: { host: 'podinfo.podinfo:9898', 'x-outrigger-debug': '1' } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A deny-all refusal: the policy 403 with its receipt, never the application's answer. */
function assertDenied(r: SimpleResponse, what: string): void {
  assert.equal(r.status, 403, `${what}: ${r.status} ${r.body}`);
  assert.equal(r.headers['x-outrigger-denied-by'], 'no ALLOW policy matched', what);
  assert.match(r.body, /^RBAC: access denied\n/, what);
}

const allowed = (r: SimpleResponse, what: string) => assert.equal(r.status, 200, `${what}: ${r.status} ${r.body}`);

test('Layer 2: health endpoints answer any mesh caller, with GET and HEAD only', async () => {
  for (const p of ['/healthz', '/readyz', '/healthz/ready', '/livez']) allowed(await call('outsider', 'GET', p), `GET ${p}`);
  allowed(await call('outsider', 'HEAD', '/livez'), 'HEAD /livez');
  assertDenied(await call('outsider', 'POST', '/healthz'), 'POST /healthz');
  assertDenied(await call('outsider', 'GET', '/healthz/other'), 'GET /healthz/other');
});

test('Layer 3: podinfo and the test runner call podinfo on 9898 with GET/HEAD/POST/PUT, never DELETE', async () => {
  for (const caller of ['podinfo', 'runner'] as const) {
    for (const m of ['GET', 'HEAD', 'POST', 'PUT']) allowed(await call(caller, m, '/api/info'), `${caller} ${m}`);
    assertDenied(await call(caller, 'DELETE', '/api/info'), `${caller} DELETE`);
  }
  assertDenied(await call('podinfo', 'GET', '/api/info', 'podinfo-9797'), 'podinfo GET on 9797');
  assertDenied(await call('outsider', 'GET', '/api/info'), 'outsider GET');
});

test('Layer 4b: the ingress gateway identity reaches podinfo with GET/HEAD/POST on any port', async () => {
  for (const m of ['GET', 'HEAD', 'POST']) allowed(await call('gateway', m, '/'), `gateway ${m}`);
  allowed(await call('gateway', 'GET', '/', 'podinfo-9797'), 'gateway GET on 9797');
  for (const m of ['PUT', 'DELETE']) assertDenied(await call('gateway', m, '/'), `gateway ${m}`);
});

test('Layer 5: the monitoring namespace scrapes /metrics and /stats/prometheus with GET, nothing else', async () => {
  allowed(await call('prometheus', 'GET', '/metrics'), 'GET /metrics');
  allowed(await call('prometheus', 'GET', '/stats/prometheus'), 'GET /stats/prometheus');
  assertDenied(await call('prometheus', 'POST', '/metrics'), 'POST /metrics');
  assertDenied(await call('prometheus', 'GET', '/api/info'), 'GET /api/info');
  assertDenied(await call('outsider', 'GET', '/metrics'), 'outsider GET /metrics');
});

test('Layer 4a: the ingress gateway takes any client on 8080; its other ports only serve health checks', async () => {
  const edge = (name: string, p: string, method = 'GET') => request(ports.get(name)!, p, { method, host: 'podinfo.example.com', headers: { 'x-outrigger-debug': '1' } });
  for (const m of ['GET', 'POST', 'DELETE']) allowed(await edge('gateway-8080', '/', m), `edge ${m} on 8080`);
  allowed(await edge('gateway-9000', '/healthz'), 'GET /healthz on 9000');
  const r = await edge('gateway-9000', '/');
  // The edge strips mesh-internal headers, so an outside client gets no receipt: the flag alone tells.
  assert.equal(r.status, 403);
  assert.equal(r.body, 'RBAC: access denied');
});

test('a caller without a client certificate never reaches the policies (STRICT mTLS)', async () => {
  await assert.rejects(request(ports.get('podinfo-9898')!, '/healthz'));
});
