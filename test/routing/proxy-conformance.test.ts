// Runs the routing conformance table through a real OutriggerProxy: each case's RouteConfiguration is
// pushed as RDS, its request sent over a socket (TLS for https), and the answer checked against the
// same expectations the pure route library meets. The random draw is the case's, for every call.
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { after, before, test } from 'node:test';
import type { EnvoyRouteConfiguration } from '../../src/proxy/http/route/index.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from '../proxy/certs.ts';
import { cla, cluster, hcm, listener, push, startProxy } from '../proxy/harness.ts';
import { type RoutingCase, type RoutingExpectation, type RoutingRequest, routingCases } from './cases.ts';
import { assertDecision } from './expect-decision.ts';
import { CLUSTER_HEADER, ClusterBackends, clusterNames, joinRawHeaders, type UpstreamSeen } from './cluster-backends.ts';

const RDS = 'conformance';
/** Added to every route's response so the client learns which route answered. */
const ROUTE_HEADER = 'x-conformance-route';

/** Cases the proxy cannot run for a reason that is not a proxy bug, and known disagreements. */
const skips: Record<string, string> = {};
const todos: Record<string, string> = {};

let draw = 0;
let env: Awaited<ReturnType<typeof startProxy>>;
let plainPort: number;
let tlsPort: number;
let ca: string;
const backends = new ClusterBackends();

/** The case's configuration under one RDS name, each route tagged with its name on the response. */
function instrument(c: RoutingCase): TypedAny {
  const config = structuredClone(c.config) as EnvoyRouteConfiguration;
  for (const vh of config.virtual_hosts ?? []) {
    for (const r of vh.routes ?? []) {
      r.response_headers_to_add = [...(r.response_headers_to_add ?? []), { header: { key: ROUTE_HEADER, value: r.name ?? '' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }];
    }
  }
  return { ...(config as unknown as Record<string, unknown>), '@type': TypeUrl.RouteConfiguration, name: RDS } as TypedAny;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends the case's request as a client would: HTTP/1.1, over TLS when its scheme is https. */
function send(r: RoutingRequest): Promise<Answer> {
  const tls = r.scheme === 'https';
  const options: https.RequestOptions = {
    host: '127.0.0.1',
    port: tls ? tlsPort : plainPort,
    method: r.method ?? 'GET',
    path: r.query === undefined ? r.path : `${r.path}?${r.query}`,
    agent: false,
    headers: { host: r.authority, ...r.headers },
    ...(tls ? { ca, servername: 'conformance.test', checkServerIdentity: () => undefined } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = (tls ? https : http).request(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: joinRawHeaders(res.rawHeaders), body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** What the proxy decided and the upstream saw, in the table's vocabulary. */
function observe(a: Answer): RoutingExpectation {
  const route = a.headers[ROUTE_HEADER];
  if (a.headers[CLUSTER_HEADER] !== undefined) {
    const seen = JSON.parse(a.body) as UpstreamSeen;
    const got: RoutingExpectation = { cluster: seen.cluster, upstreamPath: seen.path, upstreamAuthority: seen.authority, requestHeaders: seen.headers, responseHeaders: a.headers };
    if (route !== undefined) got.route = route;
    return got;
  }
  if (a.status === 404 && a.headers['x-envoy-response-flags'] === 'NR') return { notFound: true };
  const got: RoutingExpectation = { responseHeaders: a.headers };
  if (route !== undefined) got.route = route;
  const location = a.headers['location'];
  if (location !== undefined) got.redirect = { status: a.status, location };
  else got.directResponse = { status: a.status, body: a.body };
  return got;
}

before(async () => {
  const authority = await makeCa('conformance-ca');
  ca = authority.ca;
  const cert = await authority.issue('spiffe://cluster.local/ns/default/sa/conformance');
  const ports = await backends.start(routingCases.flatMap((c) => clusterNames(c.config)));
  env = await startProxy({ role: 'router', random: () => draw });
  const downstreamTls: TypedAny = {
    '@type': TypeUrl.DownstreamTlsContext,
    common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'conformance-cert', sds_config: { ads: {} } }] },
  };
  push(env.proxy, [
    ...[...ports.keys()].map((name) => cluster(name)),
    ...[...ports].map(([name, port]) => cla(name, [{ port }])),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm(RDS) }]),
    listener('0.0.0.0_8443', 8443, [{ filter: hcm(RDS), tls: downstreamTls }]),
    { '@type': TypeUrl.Secret, name: 'conformance-cert', tls_certificate: { certificate_chain: { inline_string: cert.cert }, private_key: { inline_string: cert.key } } },
  ]);
  plainPort = await env.port('0.0.0.0_8080');
  tlsPort = await env.port('0.0.0.0_8443');
});

after(async () => {
  await env.close();
  await backends.close();
});

test('every case of the table runs through the proxy', () => {
  assert.ok(routingCases.length >= 100, `only ${routingCases.length} cases`);
  for (const name of [...Object.keys(skips), ...Object.keys(todos)]) {
    assert.ok(
      routingCases.some((c) => c.name === name),
      `no case named ${name}`,
    );
  }
});

let version = 0;

test('direct responses and redirects carry their route, virtual host and configuration response headers', async () => {
  const set = (key: string, value: string) => ({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });
  const config: EnvoyRouteConfiguration = {
    name: RDS,
    response_headers_to_add: [set('x-rc', 'rc')],
    virtual_hosts: [
      {
        name: 'all',
        domains: ['*'],
        response_headers_to_add: [set('x-vh', 'vh')],
        routes: [
          { name: 'teapot', match: { path: '/tea' }, direct_response: { status: 418, body: { inline_string: 'short' } }, response_headers_to_add: [set('x-route', 'teapot')] },
          { name: 'moved', match: { prefix: '/' }, redirect: { path_redirect: '/new' }, response_headers_to_add: [set('x-route', 'moved')] },
        ],
      },
    ],
  };
  push(env.proxy, [{ ...(config as unknown as Record<string, unknown>), '@type': TypeUrl.RouteConfiguration } as TypedAny], `local-${++version}`);
  for (const [path, status, route] of [
    ['/tea', 418, 'teapot'],
    ['/old', 301, 'moved'],
  ] as const) {
    const a = await send({ authority: 'any.example.com', path });
    assert.equal(a.status, status, path);
    assert.deepEqual([a.headers['x-route'], a.headers['x-vh'], a.headers['x-rc']], [route, 'vh', 'rc'], path);
  }
});

for (const c of routingCases) {
  const opts = c.name in skips ? { skip: skips[c.name] } : c.name in todos ? { todo: todos[c.name] } : {};
  test(`proxy routing: ${c.name}`, opts, async () => {
    version++;
    push(env.proxy, [instrument(c)], `case-${version}`);
    draw = c.random ?? 0;
    backends.responseHeaders = c.responseHeadersIn ?? {};
    assertDecision(observe(await send(c.request)), c.expect);
  });
}
