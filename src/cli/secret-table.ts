// `proxy-config secret`: one row per certificate of each secret (the workload chain, leaf first, then the
// trust bundle's roots) with its serial, validity and SPIFFE ID, as istioctl's secret table shows them.
import { X509Certificate } from 'node:crypto';
import { formatTable } from './table.ts';

type Obj = Record<string, unknown>;

export interface CertificateRow {
  secret: string;
  type: 'Cert Chain' | 'CA';
  /** Position in the chain: 0 is the leaf (or the first root of a bundle). */
  index: number;
  serial: string;
  notBefore: string;
  notAfter: string;
  spiffeId: string;
  subject: string;
  valid: boolean;
}

function pemOf(ds: unknown): string | undefined {
  const d = ds as { inline_string?: string; inline_bytes?: string } | undefined;
  if (d?.inline_string) return d.inline_string;
  if (d?.inline_bytes) return Buffer.from(d.inline_bytes, 'base64').toString('utf8');
  return undefined;
}

export function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** The URI SAN that is a SPIFFE ID, or '-'. */
function spiffeIdOf(cert: X509Certificate): string {
  for (const part of (cert.subjectAltName ?? '').split(', ')) {
    if (part.startsWith('URI:spiffe://')) return part.slice(4);
  }
  return '-';
}

export function certificateRows(secrets: readonly Obj[], now: number): CertificateRow[] {
  const rows: CertificateRow[] = [];
  for (const entry of secrets) {
    const secret = (entry['secret'] ?? {}) as Obj;
    const name = String(entry['name'] ?? secret['name'] ?? '');
    const tlsCert = secret['tls_certificate'] as Obj | undefined;
    const validation = secret['validation_context'] as Obj | undefined;
    const pem = tlsCert ? pemOf(tlsCert['certificate_chain']) : pemOf(validation?.['trusted_ca']);
    const type = tlsCert ? 'Cert Chain' : 'CA';
    splitPem(pem ?? '').forEach((block, index) => {
      const cert = new X509Certificate(block);
      const notBefore = new Date(cert.validFrom);
      const notAfter = new Date(cert.validTo);
      rows.push({
        secret: name,
        type,
        index,
        serial: cert.serialNumber.toLowerCase(),
        notBefore: notBefore.toISOString(),
        notAfter: notAfter.toISOString(),
        spiffeId: spiffeIdOf(cert),
        // Workload certificates have an empty subject (Istio's): Node reports it as undefined.
        subject: (cert.subject as string | undefined)?.replaceAll('\n', ', ') || '-',
        valid: notBefore.getTime() <= now && now <= notAfter.getTime(),
      });
    });
  }
  return rows;
}

export function renderSecretTable(secrets: readonly Obj[], now: number): string {
  const rows = certificateRows(secrets, now).map((r) => [
    r.secret,
    r.type === 'Cert Chain' ? (r.index === 0 ? 'Cert Chain' : `  chain[${r.index}]`) : 'CA',
    r.valid ? 'true' : 'false',
    r.serial,
    r.notAfter,
    r.notBefore,
    r.spiffeId !== '-' ? r.spiffeId : r.subject,
  ]);
  return `${formatTable(['RESOURCE NAME', 'TYPE', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE', 'SPIFFE ID / SUBJECT'], rows)}\n`;
}
