// The certificates table: trust bundle roots, the signing certificate and the latest workload
// certificate per SPIFFE ID, with time left and a status at the seed's alert thresholds.
import type { CertificateAuthority } from '../ca/certificate-authority.ts';
import { x509 } from '../ca/x509.ts';

export type CertificateStatus = 'valid' | 'expiring' | 'expired';

export interface CertificateRow {
  kind: 'root' | 'signing' | 'workload';
  /** Subject for CA certificates, the SPIFFE ID for workloads. */
  name: string;
  notBefore?: string;
  notAfter: string;
  secondsLeft: number;
  status: CertificateStatus;
  fingerprint?: string;
}

export interface CertificatesReport {
  trustDomain: string | null;
  certificates: CertificateRow[];
}

const DAY = 86_400;
/** The seed alerts on a CA certificate expiring within 30 days. */
export const CA_WARNING_SECONDS = 30 * DAY;
/** Workload certificates renew at 50–75% of their 24 h life; one with under 6 h left missed its renewal. */
export const WORKLOAD_WARNING_SECONDS = 6 * 3600;

function row(kind: CertificateRow['kind'], name: string, notAfter: Date, now: number, warnSeconds: number): CertificateRow {
  const secondsLeft = Math.floor((notAfter.getTime() - now) / 1000);
  const status: CertificateStatus = secondsLeft <= 0 ? 'expired' : secondsLeft < warnSeconds ? 'expiring' : 'valid';
  return { kind, name, notAfter: notAfter.toISOString(), secondsLeft, status };
}

export async function certificatesReport(ca: CertificateAuthority | undefined, now: number): Promise<CertificatesReport> {
  if (!ca) return { trustDomain: null, certificates: [] };
  const out: CertificateRow[] = [];
  for (const pem of ca.trustBundle()) {
    const cert = new x509.X509Certificate(pem);
    const r = row('root', cert.subject, cert.notAfter, now, CA_WARNING_SECONDS);
    r.notBefore = cert.notBefore.toISOString();
    r.fingerprint = Buffer.from(await cert.getThumbprint('SHA-256')).toString('hex');
    out.push(r);
  }
  const signingExpiry = ca.certChainExpiry();
  if (signingExpiry.getTime() !== ca.rootExpiry().getTime()) out.push(row('signing', 'intermediate CA', signingExpiry, now, CA_WARNING_SECONDS));
  const leaves = [...ca.leafExpiry()].sort((a, b) => a[0].localeCompare(b[0]));
  for (const [id, expiry] of leaves) out.push(row('workload', id, expiry, now, WORKLOAD_WARNING_SECONDS));
  return { trustDomain: ca.trustDomain, certificates: out };
}
