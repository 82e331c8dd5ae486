import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DownstreamRequest } from '../stream.ts';
import type { EnvoyRoute, EnvoyRouteConfiguration } from './envoy-types.ts';
import { FILTER_DISABLED, compileRouteConfiguration, RouteConfigError, shadowAuthority } from './index.ts';

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
  refuses(one({ match: { safe_regex: { regex: 'a{1000}' } } }), /safe_regex\.regex/);
  refuses(one({ match: { prefix: '/', dynamic_metadata: [] } as never }), /match\.dynamic_metadata/);
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
