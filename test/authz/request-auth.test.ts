// RequestAuthentication and AuthorizationPolicy together, as Istio runs them: the translated jwt_authn
// filter validates a real token and publishes its facts, then the translated RBAC filters decide.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { test } from 'node:test';
import type { RequestAuthentication } from '../../src/config/resource.ts';
import type { AuthorizationPolicySpec, JWTRule } from '../../src/config/types/security.ts';
import { createJwtAuthnFilterFactory } from '../../src/proxy/filters/jwt_authn/http-filter.ts';
import type { FilterVerdict } from '../../src/proxy/http/filter.ts';
import { translateRequestAuthentication } from '../../src/translate/request-authentication.ts';
import { context, decideHttp, policy, TARGET } from './simulate.ts';

const NOW = 1_800_000_000_000;
const ISS = 'https://issuer.example';
const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const JWKS = JSON.stringify({ keys: [{ ...keys.publicKey.export({ format: 'jwk' }), kid: 'k' }] });
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

function token(claims: Record<string, unknown>): string {
  const input = `${b64({ alg: 'ES256', kid: 'k' })}.${b64({ iss: ISS, exp: NOW / 1000 + 600, ...claims })}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: keys.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

/** jwt_authn then the RBAC filters; the status the client sees. */
async function decide(claims: Record<string, unknown>, spec: AuthorizationPolicySpec, rule: Partial<JWTRule> = {}): Promise<number> {
  const ra: RequestAuthentication = {
    apiVersion: 'security.istio.io/v1',
    kind: 'RequestAuthentication',
    metadata: { name: 'jwt', namespace: 'foo', labels: {}, annotations: {} },
    spec: { jwtRules: [{ issuer: ISS, jwks: JWKS, ...rule }] },
  };
  const jwt = createJwtAuthnFilterFactory({ now: () => NOW }).create(translateRequestAuthentication([ra], TARGET).http!.typed_config);
  const ctx = context({ headers: { authorization: `Bearer ${token(claims)}` } });
  const v = (await jwt.onRequest!(ctx)) as FilterVerdict;
  if (v.action === 'respond') return v.reply.status;
  return decideHttp([policy('p', 'foo', spec)], { metadata: Object.fromEntries(ctx.info.dynamicMetadata) }).status;
}

test('requestPrincipals: a valid token without sub has no principal, so "*" does not match it', async () => {
  const requireJwt: AuthorizationPolicySpec = { rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] };
  assert.equal(await decide({ sub: 'alice' }, requireJwt), 200);
  assert.equal(await decide({}, requireJwt), 403);
  const denyAnonymous: AuthorizationPolicySpec = { action: 'DENY', rules: [{ from: [{ source: { notRequestPrincipals: ['*'] } }] }] };
  assert.equal(await decide({ sub: 'alice' }, denyAnonymous), 200);
  assert.equal(await decide({}, denyAnonymous), 403);
});

test('claims[scope] and claims[permission] match one space-delimited value, as Istio normalizes them', async () => {
  const denyAdmin: AuthorizationPolicySpec = { action: 'DENY', rules: [{ when: [{ key: 'request.auth.claims[scope]', values: ['admin'] }] }] };
  assert.equal(await decide({ sub: 'a', scope: 'openid read admin' }, denyAdmin), 403);
  assert.equal(await decide({ sub: 'a', scope: 'openid read' }, denyAdmin), 200);
  const allowWrite: AuthorizationPolicySpec = { rules: [{ when: [{ key: 'request.auth.claims[permission]', values: ['write'] }] }] };
  assert.equal(await decide({ sub: 'a', permission: 'read write' }, allowWrite), 200);
  assert.equal(await decide({ sub: 'a', permission: 'read' }, allowWrite), 403);
  const roles: AuthorizationPolicySpec = { rules: [{ when: [{ key: 'request.auth.claims[roles]', values: ['ops'] }] }] };
  assert.equal(await decide({ sub: 'a', roles: 'dev ops' }, roles), 403, 'other claims are compared whole');
  assert.equal(await decide({ sub: 'a', roles: 'dev ops' }, roles, { spaceDelimitedClaims: ['roles'] }), 200);
});

test("several good tokens for one provider: policies see the first token's claims, as Envoy keeps its payload", async () => {
  const ra: RequestAuthentication = {
    apiVersion: 'security.istio.io/v1',
    kind: 'RequestAuthentication',
    metadata: { name: 'jwt', namespace: 'foo', labels: {}, annotations: {} },
    spec: { jwtRules: [{ issuer: ISS, jwks: JWKS }] },
  };
  const jwt = createJwtAuthnFilterFactory({ now: () => NOW }).create(translateRequestAuthentication([ra], TARGET).http!.typed_config);
  // Found in Envoy's order: the header (alice), then the parameter (bob); Envoy verifies bob first.
  const ctx = context({ headers: { authorization: `Bearer ${token({ sub: 'alice' })}` }, query: `access_token=${token({ sub: 'bob' })}` });
  assert.equal(((await jwt.onRequest!(ctx)) as FilterVerdict).action, 'continue');
  const status = (spec: AuthorizationPolicySpec) => decideHttp([policy('p', 'foo', spec)], { metadata: Object.fromEntries(ctx.info.dynamicMetadata) }).status;
  for (const [key, alice] of [
    ['request.auth.principal', `${ISS}/alice`],
    ['request.auth.claims[sub]', 'alice'],
  ] as const) {
    assert.equal(status({ rules: [{ when: [{ key, values: [alice] }] }] }), 200, key);
  }
  // Istio's envoyFilterGenerator reads `F[a][b]` as the ONE key `a][b` (SplitN on the first `[`): no
  // metadata has it, so the payload's nested claims are out of reach of this key, and the ALLOW denies.
  assert.equal(status({ rules: [{ when: [{ key: `experimental.envoy.filters.http.jwt_authn[${ISS}][sub]`, values: ['alice'] }] }] }), 403);
  assert.equal(status({ rules: [{ from: [{ source: { requestPrincipals: [`${ISS}/bob`] } }] }] }), 403, 'the other token is no principal');
});
