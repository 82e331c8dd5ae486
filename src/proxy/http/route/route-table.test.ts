import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DownstreamRequest } from '../stream.ts';
import type { EnvoyRedirectAction, EnvoyRoute, EnvoyRouteConfiguration } from './envoy-types.ts';
import { FILTER_DISABLED, compileRouteConfiguration, RouteConfigError, shadowAuthority } from './index.ts';
import { Redirect, REQUIRE_TLS_REDIRECT } from './redirect.ts';
import { RouteMatcher } from './route-match.ts';

const one = (route: Partial<EnvoyRoute>): EnvoyRouteConfiguration => ({
  name: '80',
  virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ name: 'r', match: { prefix: '/' }, route: { cluster: 'c' }, ...route }] }],
});

function req(headers: Record<string, string> = {}, query = '', remote = '10.1.2.3'): DownstreamRequest {
  return {
    method: 'GET',
    scheme: 'http',
    authority: 'a',
    sentAuthority: 'a',
    path: '/',
    query,
    headers: new Map(Object.entries(headers)),
    protocol: 'HTTP/1.1',
    connection: { remoteAddress: remote, remotePort: 4444, localAddress: '', localPort: 80, tls: false },
  };
}

function refuses(rc: EnvoyRouteConfiguration, path: RegExp): void {
  assert.throws(
    () => compileRouteConfiguration(rc),
    (e: unknown) => e instanceof RouteConfigError && e.code === 'ROUTE_CONFIG' && path.test(e.path),
  );
}

test('bad config is refused with the field path', () => {
  refuses(one({ match: { safe_regex: { regex: '(' } } }), /^virtual_hosts\[0\]\.routes\[0\]\.match\.safe_regex\.regex$/);
  refuses(one({ match: { safe_regex: { regex: '(?=x)' } } }), /safe_regex\.regex/);
  refuses(one({ match: { safe_regex: { regex: '[a-z]{1000}'.repeat(40) } } }), /safe_regex\.regex/);
  refuses(one({ match: { prefix: '/', filter_state: [] } as never }), /match\.filter_state/);
  refuses(one({ match: { prefix: '/', dynamic_metadata: [{ path: [{ key: 'a' }], value: { present_match: true } }] } }), /match\.dynamic_metadata\[0\]\.filter/);
  refuses(one({ match: { prefix: '/', path: '/x' } }), /routes\[0\]\.match$/);
  refuses(one({ route: { cluster: 'c', prefix_rewrite: '/', regex_rewrite: { pattern: { regex: 'x' } } } }), /routes\[0\]\.route$/);
  refuses(one({ typed_per_filter_config: { 'envoy.filters.http.unknown': { '@type': 'x' } } }), /typed_per_filter_config/);
  refuses(one({ request_headers_to_add: [{ header: { key: ':path', value: '/' } }] }), /request_headers_to_add\[0\]\.header\.key/);
  refuses(
    { name: 'x', virtual_hosts: [{ name: 'a', domains: ['x.com'], routes: [] }, { name: 'b', domains: ['X.com'], routes: [] }] },
    /virtual_hosts\[1\]\.domains\[0\]/,
  );
});

test('an optional per-filter config nobody claims is skipped; a disabled one is marked', () => {
  const t = compileRouteConfiguration(
    one({
      typed_per_filter_config: {
        'envoy.filters.http.unknown': { '@type': 'type.googleapis.com/envoy.config.route.v3.FilterConfig', is_optional: true, config: { '@type': 'x' } },
        'envoy.filters.http.fault': { '@type': 'type.googleapis.com/envoy.config.route.v3.FilterConfig', disabled: true },
      },
    }),
  );
  const r = t.match(req(), 0);
  assert.equal(r?.perFilterConfig('envoy.filters.http.unknown'), undefined);
  assert.equal(r?.perFilterConfig('envoy.filters.http.fault'), FILTER_DISABLED);
});

test('route settings: timeouts, retry policy from the virtual host, mirrors', () => {
  const rc = one({
    route: {
      cluster: 'c',
      timeout: { seconds: '3' },
      idle_timeout: { seconds: '60' },
      max_stream_duration: { grpc_timeout_header_max: { seconds: '0' } },
      request_mirror_policies: [{ cluster: 'm', runtime_fraction: { default_value: { numerator: 25, denominator: 'HUNDRED' } } }],
    },
  });
  (rc.virtual_hosts?.[0] as { retry_policy?: unknown }).retry_policy = { retry_on: '5xx', num_retries: { value: 3 } };
  const r = compileRouteConfiguration(rc).match(req(), 0);
  assert.ok(r);
  assert.equal(r.timeoutMs, 3000);
  assert.equal(r.idleTimeoutMs, 60000);
  assert.equal(r.grpcTimeoutHeaderMaxMs, 0);
  assert.equal(r.retryPolicy?.numRetries, 3);
  assert.equal(r.mirrors[0]?.cluster, 'm');
  assert.equal(r.mirrors[0]?.shouldMirror(0.24), true);
  assert.equal(r.mirrors[0]?.shouldMirror(0.25), false);
  assert.equal(shadowAuthority('reviews:9080'), 'reviews-shadow:9080');
  assert.equal(shadowAuthority('reviews'), 'reviews-shadow');
  const dflt = compileRouteConfiguration(one({})).match(req(), 0);
  assert.equal(dflt?.timeoutMs, 15000);
  assert.equal(dflt?.retryPolicy, null);
});

test('hash policy: header, cookie with TTL that sets the cookie, source IP, query parameter', () => {
  const byHeader = compileRouteConfiguration(one({ route: { cluster: 'c', hash_policy: [{ header: { header_name: 'x-user' } }] } })).match(req(), 0)?.hashPolicy;
  assert.ok(byHeader);
  const h1 = byHeader.compute(req({ 'x-user': 'ann' }));
  assert.equal(h1?.hash, byHeader.compute(req({ 'x-user': 'ann' }))?.hash);
  assert.notEqual(h1?.hash, byHeader.compute(req({ 'x-user': 'bob' }))?.hash);
  assert.equal(byHeader.compute(req()), null);

  const byCookie = compileRouteConfiguration(one({ route: { cluster: 'c', hash_policy: [{ cookie: { name: 'sticky', ttl: { seconds: '3600' }, path: '/' } }] } })).match(req(), 0)?.hashPolicy;
  assert.ok(byCookie);
  const fresh = byCookie.compute(req());
  assert.match(fresh?.setCookie ?? '', /^sticky="[0-9a-f]{8}"; Max-Age=3600; Path=\/; HttpOnly$/);
  const value = /"([0-9a-f]+)"/.exec(fresh?.setCookie ?? '')?.[1] ?? '';
  const returning = byCookie.compute(req({ cookie: `a=1; sticky=${value}` }));
  assert.equal(returning?.hash, fresh?.hash);
  assert.equal(returning?.setCookie, null);

  const byIp = compileRouteConfiguration(one({ route: { cluster: 'c', hash_policy: [{ connection_properties: { source_ip: true } }] } })).match(req(), 0)?.hashPolicy;
  assert.equal(byIp?.compute(req({}, '', '10.9.9.9'))?.hash, byIp?.compute(req({ x: '1' }, '', '10.9.9.9'))?.hash);

  const byQuery = compileRouteConfiguration(
    one({ route: { cluster: 'c', hash_policy: [{ query_parameter: { name: 'sid' }, terminal: true }, { header: { header_name: 'x' } }] } }),
  ).match(req(), 0)?.hashPolicy;
  assert.equal(byQuery?.compute(req({ x: '1' }, 'sid=abc'))?.hash, byQuery?.compute(req({ x: '2' }, 'sid=abc'))?.hash);
});

test('matching allocates no route objects: the same compiled route comes back', () => {
  const t = compileRouteConfiguration(one({}));
  assert.equal(t.match(req(), 0), t.match(req(), 0.5));
});

test('a decorator is compiled with its route: the operation, propagated unless it says not', () => {
  const named = compileRouteConfiguration(one({ decorator: { operation: 'web.shop.svc.cluster.local:80/*' } })).match(req(), 0);
  assert.deepEqual(named?.decorator, { operation: 'web.shop.svc.cluster.local:80/*', propagate: true });
  const quiet = compileRouteConfiguration(one({ decorator: { operation: 'op', propagate: { value: false } } })).match(req(), 0);
  assert.equal(quiet?.decorator?.propagate, false);
  assert.equal(compileRouteConfiguration(one({})).match(req(), 0)?.decorator, null);
  refuses(one({ decorator: { operation: '' } }), /^virtual_hosts\[0\]\.routes\[0\]\.decorator\.operation$/);
});

test('regexes up to program size 32768 compile (Istio\'s bootstrap re2.max_program_size.error_level)', () => {
  const t = compileRouteConfiguration(one({ match: { safe_regex: { regex: '/api/v[0-9]+/(users|orders|products)/[a-z0-9-]{1,36}' } } }));
  assert.equal(t.match({ ...req(), path: '/api/v2/users/ann' }, 0)?.name, 'r');
});

test('query parameter values match as sent, not percent-decoded (Envoy\'s parseQueryString)', () => {
  const t = compileRouteConfiguration(one({ match: { prefix: '/', query_parameters: [{ name: 'role', string_match: { exact: 'admin' } }] } }));
  assert.equal(t.match(req({}, 'role=admin'), 0)?.name, 'r');
  assert.equal(t.match(req({}, 'role=%61dmin'), 0), null);
});

test('path rewrites: an empty prefix_rewrite is none; a regex rewrite to nothing keeps the path (rewritePathByPrefixOrRegex)', () => {
  const at = (route: Record<string, unknown>) =>
    compileRouteConfiguration(one({ match: { prefix: '/api' }, route: { cluster: 'c', ...route } })).match({ ...req(), path: '/api/users' }, 0);
  const empty = at({ prefix_rewrite: '' });
  assert.equal(empty?.rewritePath('/api/users'), '/api/users');
  assert.equal(empty?.rewritesPath, false);
  assert.equal(at({ regex_rewrite: { pattern: { regex: '^/api/users$' }, substitution: '' } })?.rewritePath('/api/users'), '/api/users');
  assert.equal(at({ regex_rewrite: { pattern: { regex: '^/api' }, substitution: '/v2' } })?.rewritePath('/api/users'), '/v2/users');
});

test('redirects as Envoy\'s newUri: a leading "/" added to the path; require_tls keeps the Host as sent, port and all', () => {
  const host = (authority: string, path: string, query = ''): DownstreamRequest => ({ ...req({}, query), authority, sentAuthority: authority, path });
  const redirecting = (redirect: EnvoyRedirectAction) =>
    compileRouteConfiguration({ name: '80', virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ name: 'r', match: { prefix: '/' }, redirect }] }] });
  const redirect = redirecting({ path_redirect: 'login' });
  assert.equal(redirect.match(host('shop.example.com', '/x'), 0)?.redirect?.location(host('shop.example.com', '/x')), 'http://shop.example.com/login');
  const keep = redirecting({ path_redirect: '', host_redirect: 'other.example.com' });
  assert.equal(keep.match(host('a', '/x'), 0)?.redirect?.location(host('a', '/x', 'q=1')), 'http://other.example.com/x?q=1');
  const rc = one({});
  (rc.virtual_hosts?.[0] as { require_tls?: string }).require_tls = 'ALL';
  const tls = compileRouteConfiguration(rc);
  const r = host('shop.example.com:80', '/x', 'a=1');
  assert.equal(tls.match(r, 0)?.redirect?.location(r), 'https://shop.example.com:80/x?a=1');
  // A route's own https_redirect still drops the default port (processRequestHost).
  const own = redirecting({ https_redirect: true });
  assert.equal(own.match(r, 0)?.redirect?.location(r), 'https://shop.example.com/x?a=1');
});

test("require_tls's redirect is marked by a flag a copy keeps, not by the object's identity", () => {
  const r: DownstreamRequest = { ...req({}, 'a=1'), authority: 'shop.example.com:80', sentAuthority: 'shop.example.com:80', path: '/x' };
  const matcher = new RouteMatcher({ prefix: '/' }, 'm');
  assert.equal(new Redirect({ ...REQUIRE_TLS_REDIRECT }, matcher, 'r').location(r), 'https://shop.example.com:80/x?a=1');
  assert.equal(new Redirect({ https_redirect: true }, matcher, 'r').location(r), 'https://shop.example.com/x?a=1');
});

test('dynamic_metadata: a JWT claim route reads the jwt_authn payload; inverted, a request without it matches', () => {
  const value = { string_match: { exact: 'admin' } };
  const claim = { filter: 'envoy.filters.http.jwt_authn', path: [{ key: 'payload' }, { key: 'group' }], value: { or_match: { value_matchers: [{ list_match: { one_of: value } }, value] } } };
  const t = compileRouteConfiguration({
    name: '80',
    virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [
      { name: 'admin', match: { prefix: '/', dynamic_metadata: [claim] }, route: { cluster: 'a' } },
      { name: 'others', match: { prefix: '/', dynamic_metadata: [{ ...claim, invert: true }] }, route: { cluster: 'b' } },
    ] }],
  });
  const jwt = (payload: Record<string, unknown>) => new Map([['envoy.filters.http.jwt_authn', { payload }]]);
  assert.equal(t.match(req(), 0, jwt({ group: 'admin' }))?.name, 'admin');
  assert.equal(t.match(req(), 0, jwt({ group: ['dev', 'admin'] }))?.name, 'admin');
  assert.equal(t.match(req(), 0, jwt({ group: 'dev' }))?.name, 'others');
  assert.equal(t.match(req(), 0)?.name, 'others');
});

test('the mirror authority puts -shadow before the port, after an IPv6 literal (shadowAppendedHost)', () => {
  assert.equal(shadowAuthority('[::1]:8080'), '[::1]-shadow:8080');
  assert.equal(shadowAuthority('[::1]'), '[::1]-shadow');
  assert.equal(shadowAuthority('reviews:9080'), 'reviews-shadow:9080');
});
