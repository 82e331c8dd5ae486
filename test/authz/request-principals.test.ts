// requestPrincipals (and `when: request.auth.principal`) match the whole `iss/sub` string, as Istio 1.20
// does (docs/security-authz.md says why, and where Istio 1.21+ differs): a real token through the
// translated jwt_authn filter, then the translated RBAC filters decide.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { test } from 'node:test';
import type { RequestAuthentication } from '../../src/config/resource.ts';
import { createJwtAuthnFilterFactory } from '../../src/proxy/filters/jwt_authn/http-filter.ts';
import type { FilterVerdict } from '../../src/proxy/http/filter.ts';
import { translateRequestAuthentication } from '../../src/translate/request-authentication.ts';
import { context, decideHttp, policy, TARGET } from './simulate.ts';

const NOW = 1_800_000_000_000;
const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const JWKS = JSON.stringify({ keys: [{ ...keys.publicKey.export({ format: 'jwk' }), kid: 'k' }] });
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const ISSUERS = ['https://iss.example', 'https://iss.example/tenant', 'https://slash.example/'];

function token(iss: string, sub: string): string {
  const input = `${b64({ alg: 'ES256', kid: 'k' })}.${b64({ iss, sub, exp: NOW / 1000 + 600 })}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: keys.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

const ra: RequestAuthentication = {
  apiVersion: 'security.istio.io/v1',
  kind: 'RequestAuthentication',
  metadata: { name: 'jwt', namespace: 'foo', labels: {}, annotations: {} },
  spec: { jwtRules: ISSUERS.map((issuer) => ({ issuer, jwks: JWKS })) },
};
const jwt = createJwtAuthnFilterFactory({ now: () => NOW }).create(translateRequestAuthentication([ra], TARGET).http!.typed_config);

/** Whether an ALLOW on `requestPrincipals: [value]` (and one on `when: request.auth.principal`) lets the token in. */
async function allows(value: string, iss: string, sub: string): Promise<boolean> {
  const decisions: number[] = [];
  for (const spec of [{ rules: [{ from: [{ source: { requestPrincipals: [value] } }] }] }, { rules: [{ when: [{ key: 'request.auth.principal', values: [value] }] }] }]) {
    const ctx = context({ headers: { authorization: `Bearer ${token(iss, sub)}` } });
    const v = (await jwt.onRequest!(ctx)) as FilterVerdict;
    assert.equal(v.action, 'continue', 'the token is valid');
    decisions.push(decideHttp([policy('p', 'foo', spec)], { metadata: Object.fromEntries(ctx.info.dynamicMetadata) }).status);
  }
  assert.equal(decisions[0], decisions[1], 'requestPrincipals and request.auth.principal agree');
  return decisions[0] === 200;
}

test('requestPrincipals match the whole "iss/sub" string (Istio 1.20), not iss and sub apart (1.21+)', async () => {
  const table: [string, string, string, boolean, string][] = [
    ['https://iss.example/alice', 'https://iss.example', 'alice', true, 'exact'],
    ['https://iss.example/bob', 'https://iss.example', 'alice', false, 'exact, other subject'],
    ['https://iss.example/repo:org/app', 'https://iss.example', 'repo:org/app', true, 'a subject with "/" (1.21+: never matches, istio/istio#52217)'],
    ['https://iss.example/*', 'https://iss.example', 'alice', true, 'every subject of the issuer'],
    ['https://iss.example/*', 'https://iss.example/tenant', 'alice', true, 'and of an issuer that starts with it (1.21+: no)'],
    ['https://slash.example/*', 'https://slash.example/', 'alice', true, 'an issuer ending in "/" (1.21+: no, istio/istio#51901)'],
    ['https://slash.example//*', 'https://slash.example/', 'alice', true, "1.21+'s spelling also matches"],
    ['*/alice', 'https://iss.example/tenant', 'alice', true, 'suffix'],
    ['*/alice', 'https://iss.example', 'x/alice', true, 'the suffix of the whole string (1.21+: sub must be exactly alice)'],
    ['https://iss.example/al*', 'https://iss.example', 'alice', true, 'prefix into the subject'],
    ['*', 'https://iss.example', 'alice', true, 'any principal'],
  ];
  for (const [value, iss, sub, want, why] of table) assert.equal(await allows(value, iss, sub), want, `${value} vs ${iss}/${sub}: ${why}`);
});
