// Creates a self-signed root CA: ECDSA P-256, 10 years, `O=<trustDomain>` as Istio's self-signed root.
import { randomBytes } from 'node:crypto';
import { generateP256, signingAlgorithmFor } from './keys.ts';
import { x509 } from './x509.ts';

export const ROOT_TTL_MS = 10 * 365 * 24 * 3600 * 1000;

/** A random positive 128-bit serial in hex (RFC 5280: at most 20 octets, positive). */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

export interface GeneratedRoot {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

export async function createSelfSignedRoot(trustDomain: string, nowMs: number): Promise<GeneratedRoot> {
  const keys = await generateP256();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `O=${trustDomain}`,
    notBefore: new Date(nowMs - 60_000),
    notAfter: new Date(nowMs + ROOT_TTL_MS),
    keys,
    signingAlgorithm: signingAlgorithmFor(keys.privateKey),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys };
}
