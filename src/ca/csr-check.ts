// Validates a workload CSR before signing: it parses, its signature holds, its key is strong enough,
// and it asks for nothing beyond the caller's own SPIFFE ID (ISTIO-SECURITY-2022-008, §5C-14).
import { createPublicKey } from 'node:crypto';
import { CaError } from './ca-error.ts';
import { allSans } from './svid.ts';
import { BASIC_CONSTRAINTS_OID, x509 } from './x509.ts';

function checkKey(csr: x509.Pkcs10CertificateRequest): void {
  const key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') {
    if (details?.namedCurve === 'prime256v1' || details?.namedCurve === 'secp384r1') return;
    throw new CaError('CA_BAD_CSR', `CSR key curve ${String(details?.namedCurve)} is not allowed (P-256, P-384)`);
  }
  if (key.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) >= 2048) return;
  throw new CaError('CA_BAD_CSR', `CSR key ${String(key.asymmetricKeyType)} is not allowed (ECDSA P-256 or RSA >= 2048)`);
}

/** Parses and checks a PEM CSR for the identity `expectedId`; returns it for signing. */
export async function checkCsr(csrPem: string, expectedId: string): Promise<x509.Pkcs10CertificateRequest> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new CaError('CA_BAD_CSR', 'CSR does not parse as PKCS#10 PEM', { cause: err });
  }
  if (!(await csr.verify())) throw new CaError('CA_BAD_CSR', 'CSR signature does not verify');
  checkKey(csr);
  const sans = allSans(csr.extensions);
  const allowed = `url:${expectedId}`;
  const extra = sans.filter((s) => s !== allowed);
  if (extra.length > 0) {
    throw new CaError('CA_IDENTITY_MISMATCH', `CSR asks for ${extra.join(', ')}; the caller may only have ${expectedId}`);
  }
  for (const ext of csr.extensions) {
    if (ext.type === BASIC_CONSTRAINTS_OID && new x509.BasicConstraintsExtension(ext.rawData).ca) {
      throw new CaError('CA_BAD_CSR', 'CSR asks for CA:true');
    }
  }
  return csr;
}
