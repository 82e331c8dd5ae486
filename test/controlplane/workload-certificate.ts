// A workload certificate as a proxy holds it, for tests that present one as the TLS client certificate.
import type { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { x509 } from '../../src/ca/x509.ts';
import { createWorkloadCsr } from '../../src/proxy/tls/workload-csr.ts';

export interface Held {
  certChainPem: string;
  keyPem: string;
  notAfter: number;
}

/** A workload certificate for `identity` from `ca` (as the CSR service signs it), held as a proxy holds it. */
export async function certificateFrom(ca: CertificateAuthority, identity: { namespace: string; serviceAccount: string }, ttlSeconds = 3600): Promise<Held> {
  const { keyPem, csrPem } = await createWorkloadCsr(`spiffe://${ca.trustDomain}/ns/${identity.namespace}/sa/${identity.serviceAccount}`);
  const chain = await ca.sign(csrPem, identity, ttlSeconds);
  return { certChainPem: chain.slice(0, -1).join(''), keyPem, notAfter: new x509.X509Certificate(chain[0] as string).notAfter.getTime() };
}
