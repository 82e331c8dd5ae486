// The proxy's own key and CSR: ECDSA P-256, generated locally; the private key never leaves the proxy.
import { exportPrivateKeyPem, generateP256 } from '../../ca/keys.ts';
import { x509 } from '../../ca/x509.ts';

export interface WorkloadKeyAndCsr {
  /** PKCS#8 PEM, for node:tls `key`. */
  keyPem: string;
  csrPem: string;
}

/** A fresh key and a CSR asking for `spiffeId` as its single URI SAN (the CA decides the final SAN). */
export async function createWorkloadCsr(spiffeId: string): Promise<WorkloadKeyAndCsr> {
  const keys = await generateP256();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }])],
  });
  return { keyPem: await exportPrivateKeyPem(keys.privateKey), csrPem: csr.toString('pem') };
}
