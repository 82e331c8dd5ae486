// The order ADS and CSDS authenticate a caller in, case by case: a certificate that proves its identity
// first, then the token, then anonymous where allowed; each refusal with its code and reason.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BootstrapTokens } from './bootstrap-tokens.ts';
import { authenticateCaller, type CallerAuth, type CallerAuthOptions } from './caller-authentication.ts';
import type { ClientCertResult } from './client-cert-authenticator.ts';

const now = 1_800_000_000_000;
const tokens = new BootstrapTokens();
const admin = { namespace: 'istio-system', serviceAccount: 'admin', workload: 'cli' };
const valid = tokens.issue(admin);
const expired = tokens.issue(admin, now - 1000);
const forgedExpired = new BootstrapTokens().issue(admin, now - 1000);
const verified: ClientCertResult = { kind: 'verified', identity: { namespace: 'shop', serviceAccount: 'api' }, spiffeId: 'spiffe://cluster.local/ns/shop/sa/api', expiresAtMs: now + 60_000 };
const badCert: ClientCertResult = { kind: 'refused', code: 'BAD_CERT', reason: 'client certificate spiffe://x is not signed by the mesh CA' };
const none: ClientCertResult = { kind: 'none' };

function outcome(a: CallerAuth): string {
  if (a.kind === 'refused') return `${a.code}: ${a.reason}`;
  return a.kind === 'certificate' ? `certificate ${a.cert.identity.namespace}` : a.kind === 'token' ? `token ${a.identity.namespace}` : a.kind;
}

test('the certificate first, then the token, then anonymous; each refusal says why', () => {
  const opts = (cert: ClientCertResult, allowAnonymous = false): CallerAuthOptions => ({
    verifyToken: (t) => tokens.verify(t, now),
    tokenGenuine: (t) => tokens.verify(t, 0) !== undefined,
    verifyCertificate: () => cert,
    allowAnonymous,
  });
  const expiredAt = new Date(Math.floor((now - 1000) / 1000) * 1000).toISOString();
  const cases: [string, string | undefined, ClientCertResult, boolean, string][] = [
    ['a certificate that proves its identity wins over any token', `Bearer ${valid}`, verified, false, 'certificate shop'],
    ['even over a bad one', 'Bearer forged', verified, false, 'certificate shop'],
    ['a refused certificate leaves the token to decide', `Bearer ${valid}`, badCert, false, 'token istio-system'],
    ['no certificate: the token', `Bearer ${valid}`, none, false, 'token istio-system'],
    ['a bad token beside a refused certificate: both said', 'Bearer forged', badCert, false, `BAD_TOKEN: token not valid; BAD_CERT ${badCert.reason}`],
    ['an expired token of ours', `Bearer ${expired}`, none, false, `TOKEN_EXPIRED: token expired at ${expiredAt}`],
    ['an expired token not of ours is only bad', `Bearer ${forgedExpired}`, none, false, 'BAD_TOKEN: token not valid'],
    ['a refused certificate alone', undefined, badCert, true, `BAD_CERT: ${badCert.reason}`],
    ['nothing, anonymous allowed', undefined, none, true, 'anonymous'],
    ['nothing', undefined, none, false, 'NO_TOKEN: no bearer token'],
  ];
  for (const [what, authorization, cert, anonymous, want] of cases) {
    assert.equal(outcome(authenticateCaller(authorization, null, opts(cert, anonymous), now)), want, what);
  }
});
