// CA signing, identity binding, TTL cap, persistence (0600), plugged-in cacerts and root rotation.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

test('caps the TTL and honours a shorter one', async () => {
  const ca = await CertificateAuthority.ephemeral({ maxTtlSeconds: 3600 });
  const { csrPem } = await createWorkloadCsr(podinfoId);
  const long = new x509.X509Certificate((await ca.sign(csrPem, podinfo, 86400 * 365))[0]!);
  assert.equal(long.notAfter.getTime() - long.notBefore.getTime(), 3600 * 1000 + 60_000);
  const short = new x509.X509Certificate((await ca.sign(csrPem, podinfo, 60))[0]!);
  assert.equal(short.notAfter.getTime() - short.notBefore.getTime(), 60 * 1000 + 60_000);
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
