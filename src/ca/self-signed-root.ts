// Creates a self-signed root CA: ECDSA P-256, `O=<trustDomain>` as Istio's self-signed root, living
// CITADEL_SELF_SIGNED_CA_CERT_TTL (10 years unless the mesh says otherwise).
import { randomBytes } from 'node:crypto';
import { generateP256, signingAlgorithmFor } from './keys.ts';
import { SELF_SIGNED_ROOT_TTL_SECONDS } from './lifetimes.ts';
import { x509 } from './x509.ts';

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

export async function createSelfSignedRoot(trustDomain: string, nowMs: number, ttlSeconds = SELF_SIGNED_ROOT_TTL_SECONDS): Promise<GeneratedRoot> {
  const keys = await generateP256();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `O=${trustDomain}`,
    notBefore: new Date(nowMs - 60_000),
    notAfter: new Date(nowMs + ttlSeconds * 1000),
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
