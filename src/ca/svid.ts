// Reads the identity out of an X.509 SVID from its parsed DER: exactly one URI SAN, a SPIFFE ID,
// no NUL, not a CA. Node's `subjectAltName` string is unsafe to split (CVE-2021-44532), so never use it.
import { CaError } from './ca-error.ts';
import { isSpiffeId } from './spiffe-id.ts';
import { BASIC_CONSTRAINTS_OID, SAN_OID, x509 } from './x509.ts';

/** Every URI SAN of a certificate or CSR extension list, in order. */
export function uriSans(extensions: readonly x509.Extension[]): string[] {
  const uris: string[] = [];
  for (const ext of extensions) {
    if (ext.type !== SAN_OID) continue;
    const san = new x509.SubjectAlternativeNameExtension(ext.rawData);
    for (const name of san.names.items) if (name.type === 'url') uris.push(name.value);
  }
  return uris;
}

/** Every SAN of any type as `type:value` (to reject CSRs asking for more than their identity). */
export function allSans(extensions: readonly x509.Extension[]): string[] {
  const out: string[] = [];
  for (const ext of extensions) {
    if (ext.type !== SAN_OID) continue;
    const san = new x509.SubjectAlternativeNameExtension(ext.rawData);
    for (const name of san.names.items) out.push(`${name.type}:${name.value}`);
  }
  return out;
}

function isCa(extensions: readonly x509.Extension[]): boolean {
  for (const ext of extensions) {
    if (ext.type === BASIC_CONSTRAINTS_OID && new x509.BasicConstraintsExtension(ext.rawData).ca) return true;
  }
  return false;
}

/** The SPIFFE ID of a leaf SVID given as DER; throws `SVID_INVALID` with the reason otherwise. */
export function spiffeIdOf(der: Uint8Array | ArrayBuffer): string {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(der instanceof Uint8Array ? new Uint8Array(der) : der);
  } catch (err) {
    throw new CaError('SVID_INVALID', 'certificate does not parse', { cause: err });
  }
  return spiffeIdOfCertificate(cert);
}

export function spiffeIdOfCertificate(cert: x509.X509Certificate): string {
  const uris = uriSans(cert.extensions);
  if (uris.length !== 1) throw new CaError('SVID_INVALID', `expected exactly one URI SAN, found ${uris.length}`);
  const uri = uris[0]!;
  if (/[\0-\x1f\x7f]/.test(uri)) throw new CaError('SVID_INVALID', 'URI SAN contains a control character');
  if (!isSpiffeId(uri)) throw new CaError('SVID_INVALID', `URI SAN is not a SPIFFE ID: ${JSON.stringify(uri)}`);
  if (isCa(cert.extensions)) throw new CaError('SVID_INVALID', 'a CA certificate is not a workload SVID');
  return uri;
}
