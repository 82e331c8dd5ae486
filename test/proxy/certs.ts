// Test certificates made with @peculiar/x509: a mesh root and workload certificates whose single URI
// SAN is a SPIFFE ID, ECDSA P-256 as Outrigger issues them.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

const webcrypto = globalThis.crypto;
x509.cryptoProvider.set(webcrypto);
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

async function keyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').trimEnd()}\n-----END PRIVATE KEY-----\n`;
}

export interface TestCa {
  ca: string;
  issue(spiffeId: string): Promise<{ cert: string; key: string }>;
  /** A leaf with exactly these SANs (`url`, `dns`, ...): for certificates Outrigger would never issue; `ca` marks it a CA certificate. */
  issueWithSans(sans: { type: 'url' | 'dns' | 'email' | 'ip'; value: string }[], opts?: { ca?: boolean }): Promise<{ cert: string; key: string }>;
}

export async function makeCa(name = 'outrigger-test-root'): Promise<TestCa> {
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const now = new Date(Date.now() - 60_000);
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `O=cluster.local, CN=${name}`,
    notBefore: now,
    notAfter: new Date(now.getTime() + 86_400_000),
    keys,
    signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  let serial = 2;
  const issueWithSans = async (sans: { type: 'url' | 'dns' | 'email' | 'ip'; value: string }[], opts: { ca?: boolean } = {}) => {
    const k = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: (serial++).toString(16).padStart(2, '0'),
      subject: '',
      issuer: root.subject,
      notBefore: now,
      notAfter: new Date(now.getTime() + 86_400_000),
      publicKey: k.publicKey,
      signingKey: keys.privateKey,
      signingAlgorithm: alg,
      extensions: [
        ...(opts.ca ? [new x509.BasicConstraintsExtension(true, undefined, true)] : []),
        new x509.SubjectAlternativeNameExtension(sans, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      ],
    });
    return { cert: cert.toString('pem'), key: await keyPem(k.privateKey) };
  };
  return {
    ca: root.toString('pem'),
    issue: (spiffeId) => issueWithSans([{ type: 'url', value: spiffeId }]),
    issueWithSans,
  };
}
