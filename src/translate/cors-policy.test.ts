// A VirtualService corsPolicy as Istio's TranslateCORSPolicy writes it, and what the proxy's CORS filter
// makes of it: allowOrigins replaces the deprecated allowOrigin, whose entries are exact matchers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contextWithRoute, request } from '../../test/routing/filter-helpers.ts';
import type { CorsPolicy } from '../config/types/networking.ts';
import { createCorsFilterFactory } from '../proxy/filters/cors/filter.ts';
import type { FilterVerdict } from '../proxy/http/filter.ts';
import type { TypedAny } from '../xds/any.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { translateCors } from './route-policies.ts';

const factory = createCorsFilterFactory(() => 0);
const filter = factory.create({ '@type': TypeUrl.Cors });

/** Whether a preflight from `origin` is answered with Allow-Origin under the translated policy. */
function allows(cors: CorsPolicy, origin: string): boolean {
  const perRoute = { 'envoy.filters.http.cors': translateCors(cors) as TypedAny };
  const v = filter.onRequest!(contextWithRoute([factory], perRoute, request('OPTIONS', { origin, 'access-control-request-method': 'GET' }))) as FilterVerdict;
  return v.action === 'respond' && v.reply.headers?.['access-control-allow-origin'] === origin;
}

test('allowOrigins set: the deprecated allowOrigin is ignored (Istio: if AllowOrigins != nil … else if AllowOrigin …)', () => {
  const cors: CorsPolicy = { allowOrigins: [{ exact: 'https://a.example' }], allowOrigin: ['*'] };
  assert.deepEqual(translateCors(cors)['allow_origin_string_match'], [{ exact: 'https://a.example' }]);
  assert.equal(allows(cors, 'https://a.example'), true);
  assert.equal(allows(cors, 'https://evil.example'), false);
});

test('the deprecated allowOrigin alone: exact matchers, and an exact "*" allows every origin', () => {
  assert.deepEqual(translateCors({ allowOrigin: ['https://a.example', '*'] })['allow_origin_string_match'], [{ exact: 'https://a.example' }, { exact: '*' }]);
  assert.equal(allows({ allowOrigin: ['*'] }, 'https://any.example'), true);
  assert.equal(allows({ allowOrigin: ['https://a.example'] }, 'https://b.example'), false);
});

test('forward_not_matching_preflights is always written: false for IGNORE only', () => {
  assert.deepEqual(translateCors({})['forward_not_matching_preflights'], { value: true });
  assert.deepEqual(translateCors({ unmatchedPreflights: 'FORWARD' })['forward_not_matching_preflights'], { value: true });
  assert.deepEqual(translateCors({ unmatchedPreflights: 'IGNORE' })['forward_not_matching_preflights'], { value: false });
});
