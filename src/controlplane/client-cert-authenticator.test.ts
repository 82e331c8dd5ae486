// What a presented workload certificate proves, case by case: the identity of a leaf the mesh CA signed,
// valid now and in an accepted trust domain; nothing, with a code and reason, otherwise.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CertificateAuthority } from '../ca/certificate-authority.ts';
import { x509 } from '../ca/x509.ts';
import { createWorkloadCsr } from '../proxy/tls/workload-csr.ts';
import { ClientCertAuthenticator, type ClientCertResult } from './client-cert-authenticator.ts';

const api = { namespace: 'shop', serviceAccount: 'api' };

async function leafOf(ca: CertificateAuthority): Promise<{ raw: Buffer; notBefore: number; notAfter: number }> {
  const { csrPem } = await createWorkloadCsr(`spiffe://${ca.trustDomain}/ns/shop/sa/api`);
  const cert = new x509.X509Certificate((await ca.sign(csrPem, api, 3600))[0] as string);
  return { raw: Buffer.from(cert.rawData), notBefore: cert.notBefore.getTime(), notAfter: cert.notAfter.getTime() };
}

function authenticator(ca: CertificateAuthority, now: number, trustDomains: readonly string[] = ['cluster.local']): ClientCertAuthenticator {
  return new ClientCertAuthenticator({ issuers: () => [...ca.signingChain(), ...ca.trustBundle()], trustDomains: () => trustDomains, now: () => now });
}

/** The result's kind and code, for a compact table. */
function outcome(r: ClientCertResult): string {
  return r.kind === 'refused' ? `${r.code}: ${r.reason}` : r.kind;
}

test('a leaf of the mesh CA, valid now, proves its namespace and service account until its notAfter', async () => {
  const ca = await CertificateAuthority.ephemeral();
  const leaf = await leafOf(ca);
  const r = authenticator(ca, leaf.notBefore + 120_000).authenticate({ sslPeerCertificate: { raw: leaf.raw } });
  assert.deepEqual(r, { kind: 'verified', identity: api, spiffeId: 'spiffe://cluster.local/ns/shop/sa/api', expiresAtMs: leaf.notAfter });
});

test('no certificate, or one that proves nothing: each refusal says why', async () => {
  const ca = await CertificateAuthority.ephemeral();
  const other = await CertificateAuthority.ephemeral();
  const aliased = await CertificateAuthority.ephemeral({ trustDomain: 'old.example' });
  const leaf = await leafOf(ca);
  const foreign = await leafOf(other);
  const oldDomain = await leafOf(aliased);
  const serving = new x509.X509Certificate((await ca.issueServingCertificate(['istiod.istio-system.svc'])).certChain[0] as string);
  const now = leaf.notBefore + 120_000;
  const cases: [string, ClientCertResult, string][] = [
    ['no auth context', authenticator(ca, now).authenticate(null), 'none'],
    ['no peer certificate', authenticator(ca, now).authenticate({}), 'none'],
    ['not DER', authenticator(ca, now).authenticate({ sslPeerCertificate: { raw: Buffer.from('nope') } }), 'BAD_CERT: client certificate does not parse'],
    ['another CA', authenticator(ca, now).authenticate({ sslPeerCertificate: { raw: foreign.raw } }), 'BAD_CERT: client certificate spiffe://cluster.local/ns/shop/sa/api is not signed by the mesh CA'],
    [
      'before its notBefore',
      authenticator(ca, leaf.notBefore - 1).authenticate({ sslPeerCertificate: { raw: leaf.raw } }),
      `BAD_CERT: client certificate spiffe://cluster.local/ns/shop/sa/api is not valid before ${new Date(leaf.notBefore).toISOString()}`,
    ],
    [
      'at its notAfter',
      authenticator(ca, leaf.notAfter).authenticate({ sslPeerCertificate: { raw: leaf.raw } }),
      `CERT_EXPIRED: client certificate spiffe://cluster.local/ns/shop/sa/api expired at ${new Date(leaf.notAfter).toISOString()}`,
    ],
    ['the control plane serving certificate', authenticator(ca, now).authenticate({ sslPeerCertificate: { raw: Buffer.from(serving.rawData) } }), 'BAD_CERT: client certificate: expected exactly one URI SAN, found 0'],
    [
      'a trust domain the mesh does not accept',
      authenticator(aliased, now, ['cluster.local']).authenticate({ sslPeerCertificate: { raw: oldDomain.raw } }),
      "BAD_CERT: client certificate spiffe://old.example/ns/shop/sa/api is not in the mesh's trust domain",
    ],
    ['a trust domain alias', authenticator(aliased, now, ['cluster.local', 'old.example']).authenticate({ sslPeerCertificate: { raw: oldDomain.raw } }), 'verified'],
  ];
  for (const [name, got, want] of cases) assert.equal(outcome(got), want, name);
});

test('a certificate parsed once is still checked against the issuers and the clock of each call', async () => {
  const ca = await CertificateAuthority.ephemeral();
  const leaf = await leafOf(ca);
  let now = leaf.notBefore + 120_000;
  const a = new ClientCertAuthenticator({ issuers: () => [...ca.signingChain(), ...ca.trustBundle()], trustDomains: () => ['cluster.local'], now: () => now });
  const presented = () => outcome(a.authenticate({ sslPeerCertificate: { raw: Buffer.from(leaf.raw) } }));
  assert.equal(presented(), 'verified');
  const oldRoot = await ca.rotateSelfSignedRoot();
  assert.equal(presented(), 'verified', 'its root is still in the trust bundle');
  ca.removeTrustedRoot(oldRoot);
  assert.equal(presented(), 'BAD_CERT: client certificate spiffe://cluster.local/ns/shop/sa/api is not signed by the mesh CA');
  ca.addTrustedRoot(oldRoot);
  now = leaf.notAfter;
  assert.equal(presented(), `CERT_EXPIRED: client certificate spiffe://cluster.local/ns/shop/sa/api expired at ${new Date(leaf.notAfter).toISOString()}`);
});
