// HTTPRoute rules as Istio's convertHTTPRoute converts them (http-rules.ts): the redirect's port, the
// rewrite's trailing slash, header modifier names, retry and timeouts, the CORS filter, `matches: []`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import type { VirtualService } from '../../config/resource.ts';
import type { HTTPRoute } from '../../config/types/networking.ts';
import { convertGatewayApi } from './convert.ts';

function httpOf(rules: string, parent = '{group: "", kind: Service, name: web}', extra = ''): HTTPRoute[] {
  const { resources, diagnostics } = loadText(
    `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
---
${extra}apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: shop}
spec:
  parentRefs: [${parent}]
  rules:
${rules}`,
    'routes.yaml',
  );
  assert.deepEqual(diagnostics, []);
  const vs = convertGatewayApi(resources).find((r): r is VirtualService => r.kind === 'VirtualService');
  return vs?.spec.http ?? [];
}

test('a redirect without a port keeps the request\'s (FROM_REQUEST_PORT); with a scheme, the scheme\'s default', () => {
  const gateway = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 8080, protocol: HTTP}]
---
`;
  const redirect = (filter: string) => httpOf(`  - filters: [{type: RequestRedirect, requestRedirect: ${filter}}]\n`, '{name: gw}', gateway)[0]?.redirect;
  assert.deepEqual(redirect('{hostname: new.example.com}'), { redirectCode: 302, authority: 'new.example.com', derivePort: 'FROM_REQUEST_PORT' });
  assert.deepEqual(redirect('{scheme: https}'), { redirectCode: 302, scheme: 'https', derivePort: 'FROM_PROTOCOL_DEFAULT' });
  assert.deepEqual(redirect('{port: 9090}'), { redirectCode: 302, port: 9090 });
});

test('ReplacePrefixMatch "/bar/" rewrites /foo to /bar and /foo/x to /bar/x (one trailing "/" trimmed)', () => {
  const http = httpOf(`  - matches: [{path: {type: PathPrefix, value: /foo}}]
    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /bar/}}}]
    backendRefs: [{name: web, port: 80}]
`);
  assert.deepEqual(
    http.map((r) => [r.match?.[0]?.uri, r.rewrite?.uri]),
    [
      [{ exact: '/foo' }, '/bar'],
      [{ prefix: '/foo/' }, '/bar/'],
    ],
  );
});

test('header modifier names are lower-cased and the first entry of a name wins (headerListToMap)', () => {
  const http = httpOf(`  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: X-Env, value: prod}, {name: x-env, value: dev}]
        add: [{name: X-Add, value: "1"}, {name: x-add, value: "2"}]
    backendRefs:
    - name: web
      port: 80
      filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: X-B, value: a}, {name: x-b, value: b}]}}]
`)[0];
  assert.deepEqual(http?.headers?.request, { set: { 'x-env': 'prod' }, add: { 'x-add': '1' } });
  assert.deepEqual(http?.route?.[0]?.headers?.response, { set: { 'x-b': 'a' } });
});

test('retry becomes retries (attempts default 2, connection errors and each code); backendRequest the per-try timeout', () => {
  const rule = (more: string) => `  - backendRefs: [{name: web, port: 80}]\n${more}`;
  assert.deepEqual(httpOf(rule('    retry: {attempts: 3, codes: [503, 502], backoff: 100ms}\n'))[0]?.retries, {
    attempts: 3,
    retryOn: 'connect-failure,refused-stream,unavailable,cancelled,503,502',
    backoff: '100ms',
  });
  const withTimeouts = httpOf(rule('    retry: {codes: [503]}\n    timeouts: {request: 10s, backendRequest: 2s}\n'))[0];
  assert.deepEqual(withTimeouts?.retries, { attempts: 2, retryOn: 'connect-failure,refused-stream,unavailable,cancelled,503', perTryTimeout: '2s' });
  assert.equal(withTimeouts?.timeout, '10s');
  // No attempts: no retryOn (Istio clears it).
  assert.deepEqual(httpOf(rule('    retry: {attempts: 0}\n'))[0]?.retries, { attempts: 0 });
  // Without a retry, backendRequest stays the route's timeout.
  assert.equal(httpOf(rule('    timeouts: {backendRequest: 2s}\n'))[0]?.timeout, '2s');
});

test('retry.backoff 0s is left out: Envoy refuses a base_interval of 0 (RetryBackOff must be above 0)', () => {
  const rule = (backoff: string) => `  - backendRefs: [{name: web, port: 80}]\n    retry: {backoff: ${backoff}}\n`;
  for (const zero of ['0s', '0ms', '0h0m0s']) {
    assert.deepEqual(httpOf(rule(zero))[0]?.retries, { attempts: 2, retryOn: 'connect-failure,refused-stream,unavailable,cancelled' }, zero);
  }
  assert.equal(httpOf(rule('1ms'))[0]?.retries?.backoff, '1ms');
});

test('sessionPersistence is accepted and ignored, as Istio ignores it', () => {
  const http = httpOf('  - backendRefs: [{name: web, port: 80}]\n    sessionPersistence: {sessionName: s, type: Cookie}\n')[0];
  assert.equal(http?.route?.[0]?.destination.host, 'web.shop.svc.cluster.local');
});

test('a CORS filter becomes the route\'s corsPolicy (createCorsFilter), maxAge defaulting to 5s', () => {
  const cors = (filter: string) => httpOf(`  - filters: [{type: CORS, cors: ${filter}}]\n    backendRefs: [{name: web, port: 80}]\n`)[0]?.corsPolicy;
  assert.deepEqual(cors('{allowOrigins: ["https://a.example.com"], allowMethods: [GET, POST], allowHeaders: [x-a], exposeHeaders: [x-b], allowCredentials: true, maxAge: 60}'), {
    allowOrigins: [{ exact: 'https://a.example.com' }],
    allowCredentials: true,
    allowMethods: ['GET', 'POST'],
    allowHeaders: ['x-a'],
    exposeHeaders: ['x-b'],
    maxAge: '60s',
  });
  assert.deepEqual(cors('{allowOrigins: ["https://a.example.com"]}'), { allowOrigins: [{ exact: 'https://a.example.com' }], maxAge: '5s' });
});

test('matches: [] is a rule with no match, last after a regex; only an absent matches is PathPrefix /', () => {
  const rules = (matches: string) => `  - ${matches}backendRefs: [{name: web, port: 80}]
  - matches: [{path: {type: RegularExpression, value: "/v[0-9]+/.*"}}]
    backendRefs: [{name: web, port: 80}]
`;
  assert.deepEqual(
    httpOf(rules('matches: []\n    ')).map((r) => r.name),
    ['shop.r.1.0', 'shop.r.0.0'],
  );
  assert.deepEqual(
    httpOf(rules('')).map((r) => r.name),
    ['shop.r.0.0', 'shop.r.1.0'],
  );
});
