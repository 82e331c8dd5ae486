import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contextWithRoute, request } from '../../../../test/routing/filter-helpers.ts';
import { TypeUrl } from '../../../xds/type-urls.ts';
import type { FilterVerdict, ResponseHead } from '../../http/filter.ts';
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

test('unmatched preflight: FORWARD (default) continues, IGNORE answers 200 without CORS headers', () => {
  const forward = filter.onRequest!(contextWithRoute([factory], policy(), preflight('https://evil.com'))) as FilterVerdict;
  assert.equal(forward.action, 'continue');
  const ignore = filter.onRequest!(
    contextWithRoute([factory], policy({ forward_not_matching_preflights: { value: false } }), preflight('https://evil.com')),
  ) as FilterVerdict;
  assert.equal(ignore.action, 'respond');
  if (ignore.action === 'respond') {
    assert.equal(ignore.reply.status, 200);
    assert.equal(ignore.reply.headers, undefined);
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
