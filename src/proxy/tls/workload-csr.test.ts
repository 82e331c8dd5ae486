// The hand-written PKCS#10 request, read back by the real openssl and by the CA's X.509 library.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { test } from 'node:test';
import { x509 } from '../../ca/x509.ts';
import { createWorkloadCsr } from './workload-csr.ts';

/** openssl's stdout and stderr together: `req -verify` reports on stderr, and exits 0 even on failure. */
function openssl(pem: string, ...args: string[]): string {
  const r = spawnSync('openssl', ['req', '-noout', ...args], { input: pem, encoding: 'utf8' });
  if (r.error) throw r.error;
  return r.stdout + r.stderr;
}

// Short, past one length byte (128+) and past two (256+): every DER length form the encoder writes.
for (const id of ['spiffe://cluster.local/ns/podinfo/sa/podinfo', `spiffe://cluster.local/ns/podinfo/sa/${'a'.repeat(100)}`, `spiffe://cluster.local/ns/podinfo/sa/${'b'.repeat(300)}`]) {
  test(`openssl verifies the CSR and reads its one URI SAN (${id.length} characters)`, async () => {
    const { csrPem, keyPem } = await createWorkloadCsr(id);
    const text = openssl(csrPem, '-verify', '-text');
    assert.match(text, /self-signature verify OK/);
    assert.match(text, /Subject Alternative Name: *\n *URI:(\S+)/);
    assert.equal(/URI:(\S+)/.exec(text)?.[1], id);
    assert.match(text, /ecdsa-with-SHA256/);
    assert.match(text, /NIST CURVE: P-256/);
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    assert.ok(await csr.verify());
    // The key the proxy keeps is the one the CSR carries.
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    assert.deepEqual(Buffer.from(csr.publicKey.rawData), fromKey);
  });
}

test('a tampered CSR fails openssl verification', async () => {
  const { csrPem } = await createWorkloadCsr('spiffe://cluster.local/ns/podinfo/sa/podinfo');
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\n/g, ''), 'base64');
  // The URI sits inside the signed part; change its last path segment.
  const at = der.lastIndexOf(Buffer.from('podinfo'));
  der[at] = 'q'.charCodeAt(0);
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  assert.match(openssl(tampered, '-verify', '-text'), /URI:spiffe:\/\/cluster.local\/ns\/podinfo\/sa\/qodinfo/);
  assert.match(openssl(tampered, '-verify'), /self-signature verify failure/);
});

test('refuses an identity that is not an ASCII URI', async () => {
  await assert.rejects(createWorkloadCsr('spiffe://cluster.local/ns/pödinfo/sa/x'), TypeError);
  await assert.rejects(createWorkloadCsr('spiffe://cluster.local/ns/a b/sa/x'), TypeError);
});
