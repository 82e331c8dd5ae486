// CA signing, identity binding, istiod's lifetimes (default, maximum, root), persistence (0600),
// plugged-in cacerts and root rotation.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createWorkloadCsr } from '../proxy/tls/workload-csr.ts';
import { CertificateAuthority } from './certificate-authority.ts';
import { spiffeIdOf } from './svid.ts';
import { x509 } from './x509.ts';

const podinfo = { namespace: 'podinfo', serviceAccount: 'podinfo' };
const podinfoId = 'spiffe://cluster.local/ns/podinfo/sa/podinfo';

function verifies(leafPem: string, issuerPem: string): boolean {
  return new X509Certificate(leafPem).verify(new X509Certificate(issuerPem).publicKey);
}

test('signs a CSR into a 24h SVID with exactly the caller identity, root last', async () => {
  const ca = await CertificateAuthority.ephemeral();
  const { csrPem } = await createWorkloadCsr(podinfoId);
  const chain = await ca.sign(csrPem, podinfo);
  assert.equal(chain.length, 2);
  const leaf = new x509.X509Certificate(chain[0]!);
  assert.equal(spiffeIdOf(leaf.rawData), podinfoId);
  assert.equal(leaf.notAfter.getTime() - leaf.notBefore.getTime(), 24 * 3600 * 1000 + 60_000);
  assert.ok(verifies(chain[0]!, chain[1]!));
  assert.deepEqual(ca.trustBundle(), [chain[1]]);
  assert.equal(ca.leafExpiry().get(podinfoId)?.getTime(), leaf.notAfter.getTime());
  assert.ok(ca.rootExpiry().getTime() > Date.now() + 9 * 365 * 24 * 3600 * 1000);
});

test('refuses a CSR that asks for another identity or extra SANs', async () => {
  const ca = await CertificateAuthority.ephemeral();
  const other = await createWorkloadCsr('spiffe://cluster.local/ns/kube-system/sa/admin');
  await assert.rejects(ca.sign(other.csrPem, podinfo), { code: 'CA_IDENTITY_MISMATCH' });
  const tampered = 'not a csr';
  await assert.rejects(ca.sign(tampered, podinfo), { code: 'CA_BAD_CSR' });
});

test('issues no SPIFFE ID for a service account that is no DNS name: one with a / would read as another namespace', async () => {
  const ca = await CertificateAuthority.ephemeral();
  const forged = { namespace: 'shop', serviceAccount: 'x/ns/istio-system/sa/istiod' };
  const csr = await createWorkloadCsr('spiffe://cluster.local/ns/shop/sa/x/ns/istio-system/sa/istiod');
  await assert.rejects(ca.sign(csr.csrPem, forged), /not a workload identity/);
});

// Certificates are dated from the injected clock, in whole seconds.
const T0 = Date.UTC(2030, 0, 1);
const HOUR = 3600;
const DAY = 24 * HOUR;

test("a CSR's TTL as istiod treats it: granted up to MAX_WORKLOAD_CERT_TTL, refused above it, DEFAULT_WORKLOAD_CERT_TTL when it asks for none", async () => {
  const ca = await CertificateAuthority.ephemeral({ now: () => T0, defaultTtlSeconds: 1800, maxTtlSeconds: 2 * HOUR });
  const { csrPem } = await createWorkloadCsr(podinfoId);
  const lifetime = async (ttl?: number) => (new x509.X509Certificate((await ca.sign(csrPem, podinfo, ttl))[0]!).notAfter.getTime() - T0) / 1000;
  const rows: [number | undefined, number][] = [
    [undefined, 1800],
    [0, 1800],
    [-5, 1800],
    [60, 60],
    [2 * HOUR, 2 * HOUR],
  ];
  for (const [asked, granted] of rows) assert.equal(await lifetime(asked), granted, `asked ${asked}`);
  // Refused, not shortened: a proxy that asked for 2h1m would otherwise renew on a schedule its certificate does not keep.
  await assert.rejects(ca.sign(csrPem, podinfo, 2 * HOUR + 60), (err: Error & { code?: string }) => err.code === 'CA_BAD_TTL' && err.message === 'requested TTL 2h1m is greater than the max allowed TTL 2h');
  await assert.rejects(ca.sign(csrPem, podinfo, 365 * DAY), { code: 'CA_BAD_TTL' });
  assert.equal(ca.leafExpiry().get(podinfoId)?.getTime(), T0 + 2 * HOUR * 1000, 'a refused request issues nothing');
  // The control plane's own serving certificate is capped instead.
  const serving = await ca.issueServingCertificate(['istiod.istio-system.svc'], 365 * DAY);
  assert.equal(new x509.X509Certificate(serving.certChain[0]!).notAfter.getTime(), T0 + 2 * HOUR * 1000);
});

test('the default lifetime is granted even above the maximum, as istiod checks only the TTL a CSR asks for', async () => {
  const ca = await CertificateAuthority.ephemeral({ now: () => T0, defaultTtlSeconds: 72 * HOUR, maxTtlSeconds: 48 * HOUR });
  const { csrPem } = await createWorkloadCsr(podinfoId);
  assert.equal(new x509.X509Certificate((await ca.sign(csrPem, podinfo))[0]!).notAfter.getTime(), T0 + 72 * HOUR * 1000);
});

test('a self-signed root lives CITADEL_SELF_SIGNED_CA_CERT_TTL when made, first or by rotation; 10 years by default', async () => {
  let now = T0;
  const clock = () => now;
  assert.equal((await CertificateAuthority.ephemeral({ now: clock })).rootExpiry().getTime(), T0 + 3650 * DAY * 1000);
  const ca = await CertificateAuthority.ephemeral({ now: clock, rootTtlSeconds: 30 * DAY });
  assert.equal(ca.rootExpiry().getTime(), T0 + 30 * DAY * 1000);
  assert.equal(ca.rootLifetimeSeconds(), 30 * DAY + 60, 'backdated a minute for clock skew');
  now += 20 * DAY;
  await ca.rotateSelfSignedRoot();
  assert.equal(ca.rootExpiry().getTime(), now + 30 * DAY * 1000);
});

test('a root kept in the state directory is not remade when CITADEL_SELF_SIGNED_CA_CERT_TTL changes', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'outrigger-ca-'));
  try {
    const first = await CertificateAuthority.fromStateDir(path.join(dir, 'ca'), { now: () => T0, rootTtlSeconds: 30 * DAY });
    assert.equal(first.rootExpiry().getTime(), T0 + 30 * DAY * 1000);
    const later = await CertificateAuthority.fromStateDir(path.join(dir, 'ca'), { now: () => T0 + DAY * 1000, rootTtlSeconds: 365 * DAY });
    assert.deepEqual(later.trustBundle(), first.trustBundle());
    assert.equal(later.rootExpiry().getTime(), T0 + 30 * DAY * 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lifetime that is not a positive number is refused before any root is made', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'outrigger-ca-'));
  try {
    for (const bad of [{ rootTtlSeconds: 0 }, { maxTtlSeconds: Number.NaN }, { defaultTtlSeconds: -1 }]) {
      await assert.rejects(CertificateAuthority.ephemeral(bad), { code: 'CA_BAD_TTL' }, JSON.stringify(bad));
      await assert.rejects(CertificateAuthority.fromStateDir(path.join(dir, 'ca'), bad), { code: 'CA_BAD_TTL' });
    }
    assert.equal(existsSync(path.join(dir, 'ca')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('persists the self-signed root in the state directory with mode 0600 and reloads it', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'outrigger-ca-'));
  try {
    const first = await CertificateAuthority.fromStateDir(path.join(dir, 'ca'));
    for (const f of ['ca-key.pem', 'ca-cert.pem', 'root-cert.pem']) {
      assert.equal(statSync(path.join(dir, 'ca', f)).mode & 0o777, 0o600, f);
    }
    const second = await CertificateAuthority.fromStateDir(path.join(dir, 'ca'));
    assert.deepEqual(second.trustBundle(), first.trustBundle());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('signs with a plugged-in intermediate from the cacerts layout (openssl-made, RSA root)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'outrigger-cacerts-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  try {
    run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'root-key.pem', '-out', 'root-cert.pem',
      '-days', '30', '-subj', '/O=Istio/CN=Root CA');
    run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca-key.pem',
      '-out', 'ca.csr', '-subj', '/O=Istio/CN=Intermediate CA');
    writeFileSync(path.join(dir, 'ext.cnf'), 'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n');
    run('x509', '-req', '-in', 'ca.csr', '-CA', 'root-cert.pem', '-CAkey', 'root-key.pem', '-CAcreateserial',
      '-out', 'ca-cert.pem', '-days', '20', '-extfile', 'ext.cnf');
    const caCert = readFileSync(path.join(dir, 'ca-cert.pem'), 'utf8');
    const root = readFileSync(path.join(dir, 'root-cert.pem'), 'utf8');
    writeFileSync(path.join(dir, 'cert-chain.pem'), caCert + root);
    const ca = await CertificateAuthority.fromCacerts(dir);
    const { csrPem } = await createWorkloadCsr(podinfoId);
    const chain = await ca.sign(csrPem, podinfo);
    assert.equal(chain.length, 3);
    assert.ok(verifies(chain[0]!, chain[1]!));
    assert.ok(verifies(chain[1]!, chain[2]!));
    writeFileSync(path.join(dir, 'leaf.pem'), chain[0]!);
    writeFileSync(path.join(dir, 'inter.pem'), chain[1]!);
    run('verify', '-CAfile', 'root-cert.pem', '-untrusted', 'inter.pem', 'leaf.pem');
    // A leaf can never outlive its intermediate.
    assert.ok(new x509.X509Certificate(chain[0]!).notAfter <= new x509.X509Certificate(chain[1]!).notAfter);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('root rotation: new root signs and joins the bundle, old root is removed afterwards', async () => {
  const ca = await CertificateAuthority.ephemeral();
  const seen: number[] = [];
  ca.onTrustBundleChange((b) => seen.push(b.length));
  const oldRoot = ca.trustBundle()[0]!;
  const returned = await ca.rotateSelfSignedRoot();
  assert.equal(returned, oldRoot);
  assert.equal(ca.trustBundle().length, 2);
  const { csrPem } = await createWorkloadCsr(podinfoId);
  const chain = await ca.sign(csrPem, podinfo);
  assert.ok(verifies(chain[0]!, ca.trustBundle()[1]!));
  assert.ok(!verifies(chain[0]!, oldRoot));
  assert.throws(() => ca.removeTrustedRoot(chain[1]!), { code: 'CA_LOAD_FAILED' });
  ca.removeTrustedRoot(oldRoot);
  assert.deepEqual(ca.trustBundle(), [chain[1]]);
  assert.deepEqual(seen, [2, 1]);
});

test('a trust domain that cannot make a SPIFFE ID is refused up front, not at every handshake', async () => {
  await assert.rejects(CertificateAuthority.ephemeral({ trustDomain: 'Example.Com' }), (err: Error & { code?: string }) => err.code === 'CA_BAD_TRUST_DOMAIN' && /lower-case/.test(err.message));
  assert.equal((await CertificateAuthority.ephemeral({ trustDomain: 'example.org' })).trustDomain, 'example.org');
});
