// RequestAuthentication jwtRules as Istio's validateJwtRule takes them: no jwks/jwksUri exclusion, and
// `jwks: ""` is proto3's unset (not an invalid key set).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../load.ts';

const doc = (rule: string) => `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: foo}\nspec: {jwtRules: [${rule}]}\n`;
const JWKS = JSON.stringify(JSON.stringify({ keys: [{ kty: 'RSA', n: 'AQAB', e: 'AQAB' }] }));

for (const rule of [`{issuer: "https://i", jwksUri: "https://i/jwks", jwks: ${JWKS}}`, `{issuer: "https://i", jwksUri: "https://i/jwks", jwks: ""}`, `{issuer: "https://i", jwks: ""}`]) {
  test(`Istio accepts ${rule}`, () => {
    const r = loadText(doc(rule), 'x.yaml');
    assert.deepEqual(
      r.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.code} ${d.message}`),
      [],
    );
    assert.equal(r.resources.length, 1);
  });
}
