// CUSTOM AuthorizationPolicy → the RBAC marker filter and ext_authz, against a real HTTP authorization
// server on an ephemeral port: allow, deny, headers each way, only matching requests checked, errors.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { AuthorizationPolicy } from '../../../config/resource.ts';
import type { ExtensionProvider } from '../../../config/types/other.ts';
import { translateAuthorization } from '../../../translate/authorization.ts';
import type { FilterVerdict, HttpFilterFactory, RequestContext } from '../../http/filter.ts';
import { createRbacFilterFactory } from '../rbac/http-filter.ts';
import { createExtAuthzFilterFactory } from './http-filter.ts';

const seen: { path: string; headers: IncomingHttpHeaders }[] = [];
const server = createServer((req, res) => {
  seen.push({ path: req.url ?? '', headers: req.headers });
  if (req.headers['x-user'] === 'alice') {
    res.writeHead(200, { 'x-authz-user': 'alice', 'x-internal': 'no' }).end();
  } else {
    res.writeHead(403, { 'x-reason': 'not alice', 'x-internal': 'no' }).end('denied by policy server');
  }
});
let port = 0;
before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());

const custom: AuthorizationPolicy = {
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name: 'ext', namespace: 'foo', labels: {}, annotations: {} },
  spec: { action: 'CUSTOM', provider: { name: 'authz' }, rules: [{ to: [{ operation: { paths: ['/secure/*'] } }] }] },
};

function provider(extra: Partial<NonNullable<ExtensionProvider['envoyExtAuthzHttp']>> = {}): ExtensionProvider[] {
  return [
    {
      name: 'authz',
      envoyExtAuthzHttp: {
        service: '127.0.0.1',
        port,
        pathPrefix: '/check',
        includeRequestHeadersInCheck: ['x-user'],
        headersToUpstreamOnAllow: ['x-authz-*'],
        headersToDownstreamOnDeny: ['x-reason'],
        ...extra,
      },
    },
  ];
}

function ctx(path: string, headers: Record<string, string>): RequestContext {
  return {
    request: {
      method: 'GET',
      scheme: 'http',
      authority: 'api.foo',
      sentAuthority: 'api.foo',
      path,
      query: 'q=1',
      headers: new Map(Object.entries(headers)),
      protocol: 'HTTP/1.1',
      connection: { remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 8080, tls: false },
    },
    info: { startTime: 0, responseFlags: new Set(), dynamicMetadata: new Map() },
    route: null,
  };
}

async function run(providers: ExtensionProvider[], c: RequestContext): Promise<FilterVerdict> {
  const factories: Record<string, HttpFilterFactory> = {
    'envoy.filters.http.rbac': createRbacFilterFactory(),
    'envoy.filters.http.ext_authz': createExtAuthzFilterFactory(),
  };
  const target = { workloadLabels: {}, namespace: 'foo', rootNamespace: 'istio-system', trustDomain: 'cluster.local', extensionProviders: providers };
  for (const f of translateAuthorization([custom], target).http) {
    const v = await factories[f.name]!.create(f.typed_config).onRequest!(c);
    if (v.action === 'respond') return v;
  }
  return { action: 'continue' };
}

test('allowed: only allowed headers go to the server, allowed response headers go upstream', async () => {
  seen.length = 0;
  const c = ctx('/secure/data', { 'x-user': 'alice', 'x-secret': 's3cr3t', authorization: 'Bearer t' });
  assert.equal((await run(provider(), c)).action, 'continue');
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.path, '/check/secure/data?q=1');
  assert.equal(seen[0]!.headers['x-user'], 'alice');
  assert.equal(seen[0]!.headers['authorization'], 'Bearer t');
  assert.equal(seen[0]!.headers['x-secret'], undefined);
  assert.equal(c.request.headers.get('x-authz-user'), 'alice');
  assert.equal(c.request.headers.has('x-internal'), false);
});

test('denied: the server status and body are relayed with allowed headers, flag UAEX', async () => {
  const v = await run(provider(), ctx('/secure/data', { 'x-user': 'mallory' }));
  assert.ok(v.action === 'respond');
  assert.equal(v.reply.status, 403);
  assert.equal(v.reply.flag, 'UAEX');
  assert.equal(v.reply.body, 'denied by policy server');
  assert.deepEqual(v.reply.headers, { 'x-reason': 'not alice' });
});

test('requests the CUSTOM rules do not match are never sent to the server', async () => {
  seen.length = 0;
  assert.equal((await run(provider(), ctx('/public', { 'x-user': 'mallory' }))).action, 'continue');
  assert.equal(seen.length, 0);
});

test('server unreachable: statusOnError, or pass with failOpen', async () => {
  const down = (extra: object) => provider({ port: 1, ...extra });
  const v = await run(down({ statusOnError: '503' }), ctx('/secure/x', {}));
  assert.ok(v.action === 'respond');
  assert.equal(v.reply.status, 503);
  assert.equal(v.reply.flag, 'UAEX');
  assert.equal((await run(down({ failOpen: true }), ctx('/secure/x', {}))).action, 'continue');
});
