import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contextWithRoute, request, streamInfo } from '../../../../test/routing/filter-helpers.ts';
import { TypeUrl } from '../../../xds/type-urls.ts';
import type { FilterVerdict, ResponseHead } from '../../http/filter.ts';
import { compileRouteConfiguration, perFilterCompilersFrom } from '../../http/route/index.ts';
import { createCorsFilterFactory } from './filter.ts';

const factory = createCorsFilterFactory(() => 0);
const filter = factory.create({ '@type': TypeUrl.Cors });
const policy = (extra: Record<string, unknown> = {}) => ({
  'envoy.filters.http.cors': {
    '@type': TypeUrl.CorsPolicy,
    allow_origin_string_match: [{ exact: 'https://app.example.com' }, { safe_regex: { regex: 'https://.*\\.trusted\\.io' } }],
    allow_methods: 'GET,POST',
    allow_headers: 'content-type,x-token',
    expose_headers: 'x-request-id',
    max_age: '86400',
    allow_credentials: { value: true },
    ...extra,
  },
});
const preflight = (origin: string) => request('OPTIONS', { origin, 'access-control-request-method': 'POST' });

test('a preflight from an allowed origin is answered with the policy', () => {
  const v = filter.onRequest!(contextWithRoute([factory], policy(), preflight('https://app.example.com'))) as FilterVerdict;
  assert.equal(v.action, 'respond');
  if (v.action !== 'respond') return;
  assert.equal(v.reply.status, 200);
  assert.deepEqual(v.reply.headers, {
    'access-control-allow-origin': 'https://app.example.com',
    'access-control-allow-credentials': 'true',
    'access-control-allow-methods': 'GET,POST',
    'access-control-allow-headers': 'content-type,x-token',
    'access-control-max-age': '86400',
  });
});

test('regex origins match the whole origin', () => {
  const ok = filter.onRequest!(contextWithRoute([factory], policy(), preflight('https://a.trusted.io'))) as FilterVerdict;
  assert.equal(ok.action, 'respond');
  const no = filter.onRequest!(contextWithRoute([factory], policy(), preflight('https://a.trusted.io.evil.com'))) as FilterVerdict;
  assert.equal(no.action, 'continue');
});

test('unmatched preflight: FORWARD (default) continues, IGNORE answers 200 with every header but Allow-Origin (Envoy)', () => {
  const forward = filter.onRequest!(contextWithRoute([factory], policy(), preflight('https://evil.com'))) as FilterVerdict;
  assert.equal(forward.action, 'continue');
  const ctx = contextWithRoute([factory], policy({ forward_not_matching_preflights: { value: false } }), preflight('https://evil.com'));
  const ignore = filter.onRequest!(ctx) as FilterVerdict;
  assert.equal(ignore.action, 'respond');
  if (ignore.action !== 'respond') return;
  assert.equal(ignore.reply.status, 200);
  assert.equal(ignore.reply.details, 'cors_response');
  assert.deepEqual(ignore.reply.headers, {
    'access-control-allow-credentials': 'true',
    'access-control-allow-methods': 'GET,POST',
    'access-control-allow-headers': 'content-type,x-token',
    'access-control-max-age': '86400',
  });
  // The reply passes the filter's own onResponse: no origin was latched, so nothing is added.
  const response: ResponseHead = { status: 200, headers: new Map(Object.entries(ignore.reply.headers ?? {})) };
  filter.onResponse?.(ctx, response);
  assert.equal(response.headers.has('access-control-allow-origin'), false);
  assert.equal(response.headers.has('access-control-expose-headers'), false);
});

test('allow_methods / allow_headers "*" echo the preflight\'s Access-Control-Request-Method / -Headers, credentials or not', () => {
  for (const credentials of [true, false]) {
    const p = policy({ allow_methods: '*', allow_headers: '*', allow_credentials: { value: credentials } });
    const asks = request('OPTIONS', { origin: 'https://app.example.com', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization,x-token' });
    const v = filter.onRequest!(contextWithRoute([factory], p, asks)) as FilterVerdict;
    assert.equal(v.action, 'respond');
    if (v.action !== 'respond') return;
    assert.equal(v.reply.headers?.['access-control-allow-methods'], 'PUT');
    assert.equal(v.reply.headers?.['access-control-allow-headers'], 'authorization,x-token');
    assert.equal(v.reply.headers?.['access-control-allow-credentials'], credentials ? 'true' : undefined);
  }
  // Without Access-Control-Request-Headers Envoy sets the header empty; only the whole value `*` echoes.
  const none = filter.onRequest!(contextWithRoute([factory], policy({ allow_methods: 'GET,*', allow_headers: '*' }), preflight('https://app.example.com'))) as FilterVerdict;
  assert.equal(none.action, 'respond');
  if (none.action !== 'respond') return;
  assert.equal(none.reply.headers?.['access-control-allow-headers'], '');
  assert.equal(none.reply.headers?.['access-control-allow-methods'], 'GET,*');
});

test('the preflight reply passes the filter\'s own onResponse, as Envoy\'s encodeHeaders: it gains Expose-Headers', () => {
  const ctx = contextWithRoute([factory], policy(), preflight('https://app.example.com'));
  const v = filter.onRequest!(ctx) as FilterVerdict;
  assert.equal(v.action, 'respond');
  if (v.action !== 'respond') return;
  const response: ResponseHead = { status: 200, headers: new Map(Object.entries(v.reply.headers ?? {})) };
  filter.onResponse?.(ctx, response);
  assert.equal(response.headers.get('access-control-allow-origin'), 'https://app.example.com');
  assert.equal(response.headers.get('access-control-expose-headers'), 'x-request-id');
});

test('no CORS on a redirect or direct_response route (Envoy: no route entry)', () => {
  const table = compileRouteConfiguration(
    {
      name: '80',
      virtual_hosts: [
        {
          name: 'app',
          domains: ['*'],
          routes: [
            { name: 'moved', match: { path: '/moved' }, redirect: { path_redirect: '/new' }, typed_per_filter_config: policy() },
            { name: 'fixed', match: { prefix: '/' }, direct_response: { status: 200 }, typed_per_filter_config: policy() },
          ],
        },
      ],
    },
    { perFilterCompilers: perFilterCompilersFrom([factory]) },
  );
  for (const path of ['/moved', '/']) {
    for (const r of [request('OPTIONS', { origin: 'https://app.example.com', 'access-control-request-method': 'POST' }, path), request('GET', { origin: 'https://app.example.com' }, path)]) {
      const ctx = { request: r, info: streamInfo(), route: table.match(r, 0) };
      assert.equal((filter.onRequest!(ctx) as FilterVerdict).action, 'continue', path);
      const response: ResponseHead = { status: 200, headers: new Map() };
      filter.onResponse?.(ctx, response);
      assert.equal(response.headers.size, 0, path);
    }
  }
});

test('a response whose request the filter did not take gets no CORS headers (answered earlier, or filter_enabled 0)', () => {
  const earlier = contextWithRoute([factory], policy(), request('GET', { origin: 'https://app.example.com' }));
  const off = contextWithRoute([factory], policy({ filter_enabled: { default_value: { numerator: 0 } } }), request('GET', { origin: 'https://app.example.com' }));
  assert.equal((filter.onRequest!(off) as FilterVerdict).action, 'continue');
  for (const ctx of [earlier, off]) {
    const response: ResponseHead = { status: 403, headers: new Map() };
    filter.onResponse?.(ctx, response);
    assert.equal(response.headers.size, 0);
  }
});

test('an actual CORS request continues and its response gets allow-origin, credentials and expose headers', () => {
  const ctx = contextWithRoute([factory], policy(), request('GET', { origin: 'https://app.example.com' }));
  assert.equal((filter.onRequest!(ctx) as FilterVerdict).action, 'continue');
  const response: ResponseHead = { status: 200, headers: new Map() };
  filter.onResponse?.(ctx, response);
  assert.equal(response.headers.get('access-control-allow-origin'), 'https://app.example.com');
  assert.equal(response.headers.get('access-control-allow-credentials'), 'true');
  assert.equal(response.headers.get('access-control-expose-headers'), 'x-request-id');
});

test('no CORS headers for a disallowed origin, a request without Origin, or a route without policy', () => {
  for (const ctx of [
    contextWithRoute([factory], policy(), request('GET', { origin: 'https://evil.com' })),
    contextWithRoute([factory], policy(), request('GET')),
    contextWithRoute([factory], null, request('GET', { origin: 'https://app.example.com' })),
  ]) {
    assert.equal((filter.onRequest!(ctx) as FilterVerdict).action, 'continue');
    const response: ResponseHead = { status: 200, headers: new Map() };
    filter.onResponse?.(ctx, response);
    assert.equal(response.headers.size, 0);
  }
});

test('a bad max_age is refused when the route config compiles', () => {
  assert.throws(() => contextWithRoute([factory], policy({ max_age: '1d' }), request('GET')), /ROUTE_CONFIG|max_age/);
});
