// RequestAuthentication → jwt_authn as pilot's convertToEnvoyJwtConfig writes it
// (pilot/pkg/security/authn/policy_applier.go): provider order, requirement tree, key source, cache.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RequestAuthentication } from '../config/resource.ts';
import type { JWTRule } from '../config/types/security.ts';
import { durationMs, type XdsDuration } from '../xds/duration.ts';
import { translateRequestAuthentication } from './request-authentication.ts';

const TARGET = { workloadLabels: { app: 'api' }, namespace: 'foo', rootNamespace: 'istio-system', trustDomain: 'cluster.local' };
const JWKS = '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}';

function ra(name: string, rules: Partial<JWTRule>[]): RequestAuthentication {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'RequestAuthentication',
    metadata: { name, namespace: 'foo', labels: {}, annotations: {} },
    spec: { jwtRules: rules.map((r) => ({ issuer: 'https://i.example', ...r })) as JWTRule[] },
  };
}

interface Typed {
  providers: Record<string, { issuer: string; local_jwks?: { inline_string: string }; remote_jwks?: { http_uri: { uri: string }; cache_duration: XdsDuration } }>;
  rules: { requires: unknown }[];
}
const typedOf = (policies: RequestAuthentication[]) => translateRequestAuthentication(policies, TARGET).http!.typed_config as unknown as Typed;

test('one rule: any{origins-0, allow_missing}', () => {
  assert.deepEqual(typedOf([ra('a', [{ jwks: JWKS }])]).rules[0]!.requires, {
    requires_any: { requirements: [{ provider_name: 'origins-0' }, { allow_missing: {} }] },
  });
});

test('several rules: sorted by issuer across policies, any{P0, P1, all{any{P0, allow_missing}, any{P1, allow_missing}}}', () => {
  const typed = typedOf([ra('a', [{ issuer: 'https://z.example', jwks: JWKS }]), ra('b', [{ issuer: 'https://a.example', jwks: JWKS }])]);
  assert.deepEqual(
    Object.entries(typed.providers).map(([name, p]) => [name, p.issuer]),
    [
      ['origins-0', 'https://a.example'],
      ['origins-1', 'https://z.example'],
    ],
  );
  const optional = (provider_name: string) => ({ requires_any: { requirements: [{ provider_name }, { allow_missing: {} }] } });
  assert.deepEqual(typed.rules[0]!.requires, {
    requires_any: {
      requirements: [{ provider_name: 'origins-0' }, { provider_name: 'origins-1' }, { requires_all: { requirements: [optional('origins-0'), optional('origins-1')] } }],
    },
  });
});

test('key source: `jwks: ""` is unset (the URI is fetched); inline keys win over jwksUri, as istiod', () => {
  const uri = 'https://idp.example/jwks.json';
  assert.equal(typedOf([ra('a', [{ jwks: '', jwksUri: uri }])]).providers['origins-0']!.remote_jwks?.http_uri.uri, uri);
  const both = typedOf([ra('a', [{ jwks: JWKS, jwksUri: uri }])]).providers['origins-0']!;
  assert.deepEqual([both.local_jwks?.inline_string, both.remote_jwks], [JWKS, undefined]);
});

test('a remote key set is cached 300 s, as pilot writes cache_duration', () => {
  const p = typedOf([ra('a', [{ jwksUri: 'https://idp.example/jwks.json' }])]).providers['origins-0']!;
  assert.equal(durationMs(p.remote_jwks?.cache_duration), 300_000);
});
