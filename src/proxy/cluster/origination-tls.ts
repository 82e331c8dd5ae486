// TLS origination to endpoints outside the mesh's tunnel (DestinationRule `tls.mode: SIMPLE | MUTUAL`,
// typically toward a ServiceEntry): the cluster's UpstreamTlsContext compiled once into what a connect
// needs — SNI, trusted CA, client certificate, and the SANs the server must present — from inline PEM,
// files, or SDS secrets (`kubernetes://NAME`, `kubernetes://NAME-cacert`).
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { checkServerIdentity } from 'node:tls';
import { ProxyConfigError } from '../config/config-error.ts';

type DataSource = { inline_string?: string; inline_bytes?: string; filename?: string };
interface CommonTls {
  tls_certificates?: { certificate_chain?: DataSource; private_key?: DataSource }[];
  tls_certificate_sds_secret_configs?: { name?: string }[];
  validation_context?: ValidationContext;
  combined_validation_context?: { default_validation_context?: ValidationContext; validation_context_sds_secret_config?: { name?: string } };
  validation_context_sds_secret_config?: { name?: string };
  alpn_protocols?: string[];
}
interface ValidationContext {
  trusted_ca?: DataSource;
  match_typed_subject_alt_names?: { san_type?: string; matcher?: { exact?: string } }[];
}

export interface OriginationTls {
  readonly sni: string | undefined;
  readonly ca: Material | undefined;
  readonly cert: Material | undefined;
  /** SANs of which the server's certificate must present one (DNS or URI); empty = the SNI's hostname check. */
  readonly sans: readonly string[];
}

/** PEM known now (inline, file) or looked up when connecting (an SDS secret that may arrive later). */
type Material = { kind: 'pem'; cert?: string; key?: string; ca?: string } | { kind: 'secret'; name: string };

function source(d: DataSource | undefined, where: string): string | undefined {
  if (!d) return undefined;
  if (d.inline_string !== undefined) return d.inline_string;
  if (d.inline_bytes !== undefined) return Buffer.from(d.inline_bytes, 'base64').toString('utf8');
  if (d.filename !== undefined) {
    try {
      return readFileSync(d.filename, 'utf8');
    } catch (err) {
      throw new ProxyConfigError(where, 'filename', `cannot read ${d.filename}: ${(err as Error).message}`);
    }
  }
  return undefined;
}

/** Compiles an UpstreamTlsContext that is not the mesh's own (no `default` workload secret). */
export function compileOriginationTls(ctx: { sni?: string; common_tls_context?: CommonTls }, where: string): OriginationTls {
  const c = ctx.common_tls_context ?? {};
  const vc = c.combined_validation_context?.default_validation_context ?? c.validation_context;
  const caSecret = c.combined_validation_context?.validation_context_sds_secret_config?.name ?? c.validation_context_sds_secret_config?.name;
  const caPem = source(vc?.trusted_ca, `${where}.validation_context.trusted_ca`);
  const certSecret = c.tls_certificate_sds_secret_configs?.[0]?.name;
  const inline = c.tls_certificates?.[0];
  const certPem = source(inline?.certificate_chain, `${where}.tls_certificates[0].certificate_chain`);
  const keyPem = source(inline?.private_key, `${where}.tls_certificates[0].private_key`);
  return {
    sni: ctx.sni || undefined,
    ca: caSecret ? { kind: 'secret', name: caSecret } : caPem ? { kind: 'pem', ca: caPem } : undefined,
    cert: certSecret ? { kind: 'secret', name: certSecret } : certPem && keyPem ? { kind: 'pem', cert: certPem, key: keyPem } : undefined,
    sans: exactSans(vc, where),
  };
}

/**
 * The SANs of `match_typed_subject_alt_names`. Only exact matchers are honoured; any other (prefix,
 * regex) is refused rather than dropped, since dropping the last one would turn the check off.
 */
function exactSans(vc: ValidationContext | undefined, where: string): string[] {
  return (vc?.match_typed_subject_alt_names ?? []).map((m, i) => {
    const exact = m.matcher?.exact;
    if (!exact) throw new ProxyConfigError(`${where}.common_tls_context`, `match_typed_subject_alt_names[${i}].matcher`, 'only `exact` SAN matchers are supported');
    return exact;
  });
}

/**
 * Secure naming on the mesh's own TLS context (the `default` workload secret): the SPIFFE IDs of which
 * the tunnel server must present one, from `match_typed_subject_alt_names`. Empty: any mesh identity.
 */
export function compileMeshSans(ctx: { common_tls_context?: CommonTls }, where: string): string[] {
  const c = ctx.common_tls_context ?? {};
  return exactSans(c.combined_validation_context?.default_validation_context ?? c.validation_context, where);
}

export type SecretLookup = (name: string) => { cert?: string; key?: string; ca?: string } | undefined;

/**
 * The node:tls options for one connect, or a reason it cannot be made (a referenced secret has not
 * arrived): the connection then fails as Envoy's would (UF), rather than going out unverified.
 */
export function originationOptions(o: OriginationTls, secrets: SecretLookup, host: string): ConnectionOptions | string {
  const resolve = (m: Material | undefined) => (m?.kind === 'secret' ? secrets(m.name) : m);
  const ca = resolve(o.ca);
  if (o.ca && !ca?.ca) return `trust bundle ${o.ca.kind === 'secret' ? o.ca.name : ''} is not available`;
  const cert = resolve(o.cert);
  if (o.cert && !(cert?.cert && cert.key)) return `client certificate ${o.cert.kind === 'secret' ? o.cert.name : ''} is not available`;
  const servername = o.sni ?? host;
  return {
    servername,
    minVersion: 'TLSv1.2',
    rejectUnauthorized: true,
    ...(ca?.ca ? { ca: ca.ca } : {}),
    ...(cert?.cert && cert.key ? { cert: cert.cert, key: cert.key } : {}),
    checkServerIdentity: (name, peer) => {
      if (o.sans.length === 0) return checkServerIdentity(name, peer);
      const presented = (peer.subjectaltname ?? '').split(',').map((s) => s.trim().replace(/^(DNS|URI):/, ''));
      if (o.sans.some((san) => presented.includes(san))) return undefined;
      // Node's own code for a name mismatch, so the failure is classed as a TLS connect failure (UF).
      return Object.assign(new Error(`server certificate presents none of ${o.sans.join(', ')}`), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    },
  };
}
