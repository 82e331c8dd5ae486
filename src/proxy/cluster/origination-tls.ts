// TLS origination to endpoints outside the mesh's tunnel (DestinationRule `tls.mode: SIMPLE | MUTUAL`,
// typically toward a ServiceEntry): the cluster's UpstreamTlsContext compiled once into what a connect
// needs — SNI (fixed, or each HTTP request's host: auto_sni), trusted CA (none: nothing verified, as
// Envoy), client certificate, and the names the server must present — from inline PEM, files, SDS
// secrets (`kubernetes://NAME`, `kubernetes://NAME-cacert`) or the platform roots (`file-root:system`).
// Files (a rule's caCertificates / clientCertificate / privateKey: Istio's `file-root:` / `file-cert:`
// names, or Envoy's `filename`) are read now and watched by the SecretStore, as istio-agent serves them
// (constructUpstreamTLS: "Rather than reading directly in Envoy, which does not support rotation, we will
// serve them over SDS by reading the files"): a changed file applies to the next connection.
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { checkServerIdentity } from 'node:tls';
import { ProxyConfigError } from '../config/config-error.ts';
import type { EnvoyStringMatcher } from '../http/route/envoy-types.ts';
import { caCredential, checkKeyPair, dataSourcePem, type EnvoyDataSource, type FileCredential, fileRootPath, isFileSecret, type KeyPairPem, readFileRoot, dataSourcePairCredential, fileCertSecret } from '../tls/file-credentials.ts';
import { compilePeerCertValidator, PeerCertConfigError, type PeerCertValidator } from '../tls/peer-cert-validator.ts';
import { TlsConfigError } from '../tls/server-tls-params.ts';
import { SYSTEM_ROOT_SECRET } from '../../xds/mesh-tls-context.ts';

interface CommonTls {
  tls_certificates?: { certificate_chain?: EnvoyDataSource; private_key?: EnvoyDataSource }[];
  tls_certificate_sds_secret_configs?: { name?: string }[];
  validation_context?: ValidationContext;
  combined_validation_context?: { default_validation_context?: ValidationContext; validation_context_sds_secret_config?: { name?: string } };
  validation_context_sds_secret_config?: { name?: string };
  alpn_protocols?: string[];
}
interface ValidationContext {
  trusted_ca?: EnvoyDataSource;
  match_typed_subject_alt_names?: { san_type?: string; matcher?: { exact?: string } }[];
  /** Deprecated and untyped, still honoured by Envoy. */
  match_subject_alt_names?: EnvoyStringMatcher[];
}

export interface OriginationTls {
  readonly sni: string | undefined;
  /** The trust the server's chain is verified against; undefined: none, nothing is verified (Envoy without a CA). */
  readonly ca: Material | undefined;
  readonly cert: Material | undefined;
  /** SANs of which the server's certificate must present one (DNS or URI); empty = the `sni`'s hostname check, if any. */
  readonly sans: readonly string[];
  /**
   * The untyped `match_subject_alt_names`, each tried against the DNS, URI, EMAIL and IP SANs (Envoy's
   * getSubjectAltNameMatchers); a certificate matching one of these or of `sans` passes. `config` is
   * what a cluster update compares (the compiled check has no fields to compare).
   */
  readonly untypedSans: { readonly config: readonly EnvoyStringMatcher[]; readonly check: PeerCertValidator } | undefined;
  /** upstream_http_protocol_options.auto_sni: without `sni`, an HTTP request's host is the SNI. */
  readonly autoSni: boolean;
  /** upstream_http_protocol_options.auto_san_validation: the certificate must be valid for an HTTP request's host. */
  readonly autoSanValidation: boolean;
}

/** The cluster's `upstream_http_protocol_options` (HttpProtocolOptions), as far as TLS reads it. */
export interface UpstreamHttpProtocolOptions {
  auto_sni?: boolean;
  auto_san_validation?: boolean;
}

/**
 * PEM known now (inline), read from files now and watched (`value` is what the compile read, until the
 * SecretStore holds a newer one), looked up when connecting (an SDS secret that may arrive later), or
 * the platform's roots (`file-root:system`: Node's bundled CA store).
 */
type Material =
  | { kind: 'pem'; cert?: string; key?: string; ca?: string }
  | { kind: 'file'; credential: FileCredential; value: KeyPairPem | string }
  | { kind: 'secret'; name: string }
  | { kind: 'system' };

/** A watched file's last good version, by credential id (the SecretStore's); undefined: not read again yet. */
export type FileLookup = (id: string) => KeyPairPem | string | undefined;

/** The file credentials of an origination, with what its compile read: the SecretStore watches them. */
export function originationFiles(o: OriginationTls): { credential: FileCredential; value: KeyPairPem | string }[] {
  return [o.ca, o.cert].flatMap((m) => (m?.kind === 'file' ? [{ credential: m.credential, value: m.value }] : []));
}

/**
 * What a cluster update compares: a file by its name, not what was read from it. A rotated file is no
 * new cluster (as Istio's unchanged `file-root:` name), so its pools stay and the watch applies it.
 */
export function originationKey(o: OriginationTls | undefined): unknown {
  if (!o) return undefined;
  const key = (m: Material | undefined) => (m?.kind === 'file' ? { kind: 'file', id: m.credential.id } : m);
  return { ...o, ca: key(o.ca), cert: key(o.cert) };
}

/** The trust: an SDS secret, the platform's roots, a file (`file-root:`, `trusted_ca.filename`, watched) or inline PEM. */
function trust(caSecret: string | undefined, trusted: EnvoyDataSource | undefined, field: string): Material | undefined {
  if (caSecret === SYSTEM_ROOT_SECRET) return { kind: 'system' };
  if (caSecret && !isFileSecret(caSecret)) return { kind: 'secret', name: caSecret };
  const file = caSecret ? fileRootPath(caSecret, field) : trusted?.filename;
  // An inline CA written empty is kept as written (dataSourcePem reads it as none): it is refused below.
  const inline = trusted?.inline_string ?? (trusted?.inline_bytes !== undefined ? Buffer.from(trusted.inline_bytes, 'base64').toString('utf8') : undefined);
  const pem = caSecret ? readFileRoot(caSecret, field) : file ? dataSourcePem(trusted, field) : inline;
  if (pem === undefined) return undefined;
  // Envoy reads an empty trusted_ca as no CA, which verifies nothing; an empty or truncated
  // caCertificates file would then turn verification off without a word. Refused instead.
  if (pem.trim() === '') throw new TlsConfigError(field, 'is empty: an empty CA would verify no server (check the caCertificates file)');
  return file ? { kind: 'file', credential: caCredential(file, field), value: pem } : { kind: 'pem', ca: pem };
}

/** The client certificate: an SDS secret, a pair with a part in a file (`file-cert:`, `filename`, watched) or inline. */
function clientCertificate(c: CommonTls): Material | undefined {
  const name = c.tls_certificate_sds_secret_configs?.[0]?.name;
  const sdsField = 'tls_certificate_sds_secret_configs[0].name';
  if (name && !isFileSecret(name)) return { kind: 'secret', name };
  if (name) {
    const files = fileCertSecret(name, sdsField);
    // As a listener's: a pair read mid-rotation refuses the cluster, rather than failing each connect.
    checkKeyPair(files.pem, files.cert, files.key, sdsField);
    return { kind: 'file', credential: files.credential, value: files.pem };
  }
  const inline = c.tls_certificates?.[0];
  const cert = dataSourcePem(inline?.certificate_chain, 'tls_certificates[0].certificate_chain');
  const key = dataSourcePem(inline?.private_key, 'tls_certificates[0].private_key');
  if (!cert || !key) return undefined;
  checkKeyPair({ cert, key }, inline?.certificate_chain?.filename ?? 'the inline certificate', inline?.private_key?.filename ?? 'the inline key', 'tls_certificates[0]');
  const credential = dataSourcePairCredential(inline?.certificate_chain, inline?.private_key, { cert, key }, 'tls_certificates[0]');
  return credential ? { kind: 'file', credential, value: { cert, key } } : { kind: 'pem', cert, key };
}

/** Compiles an UpstreamTlsContext that is not the mesh's own (no `default` workload secret). */
export function compileOriginationTls(ctx: { sni?: string; common_tls_context?: CommonTls }, where: string, http: UpstreamHttpProtocolOptions = {}): OriginationTls {
  const c = ctx.common_tls_context ?? {};
  const combined = c.combined_validation_context?.validation_context_sds_secret_config?.name;
  const vc = c.combined_validation_context?.default_validation_context ?? c.validation_context;
  const caSecret = combined ?? c.validation_context_sds_secret_config?.name;
  let ca: Material | undefined;
  let cert: Material | undefined;
  try {
    const caField = caSecret === undefined ? 'validation_context.trusted_ca' : combined !== undefined ? 'combined_validation_context.validation_context_sds_secret_config.name' : 'validation_context_sds_secret_config.name';
    ca = trust(caSecret, vc?.trusted_ca, caField);
    cert = clientCertificate(c);
  } catch (err) {
    // A file that cannot be read (or a malformed file name) refuses the cluster, naming the file only.
    if (err instanceof TlsConfigError) throw new ProxyConfigError(`${where}.common_tls_context`, err.field, err.message);
    throw err;
  }
  const sans = exactSans(vc, where);
  const untypedSans = untypedSanMatchers(vc, `${where}.common_tls_context`);
  // Envoy's DefaultCertValidator refuses the same: names checked on a chain nobody vouches for.
  if (!ca && (sans.length > 0 || untypedSans)) throw new ProxyConfigError(`${where}.common_tls_context`, sans.length > 0 ? 'match_typed_subject_alt_names' : 'match_subject_alt_names', 'SAN-based verification of peer certificates without trusted CA is insecure and not allowed');
  return {
    sni: ctx.sni || undefined,
    ca,
    cert,
    sans,
    untypedSans,
    autoSni: http.auto_sni === true,
    autoSanValidation: http.auto_san_validation === true,
  };
}

const PORT_SUFFIX = /:\d*$/;

/**
 * The host an HTTP request names (its authority without the port), for auto_sni and auto_san_validation;
 * undefined when the cluster uses neither. Envoy keys its connection pools by these transport options,
 * so each such host has connections of its own.
 */
export function requestHost(o: OriginationTls | undefined, authority: string): string | undefined {
  if (!o || !(o.autoSni || o.autoSanValidation)) return undefined;
  const host = authority.startsWith('[') ? authority.slice(1, authority.indexOf(']')) : authority.replace(PORT_SUFFIX, '');
  return host.toLowerCase() || undefined;
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

/** `match_subject_alt_names` as the server side's validation context compiles it (any string matcher, every SAN type). */
function untypedSanMatchers(vc: ValidationContext | undefined, where: string): OriginationTls['untypedSans'] {
  const config = vc?.match_subject_alt_names;
  if (!config?.length) return undefined;
  try {
    const check = compilePeerCertValidator({ match_subject_alt_names: config }, 'match_subject_alt_names');
    return check ? { config, check } : undefined;
  } catch (err) {
    if (err instanceof PeerCertConfigError) throw new ProxyConfigError(where, err.field, err.message);
    throw err;
  }
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
 * The SNI a connection sends. Envoy: (auto_sni) the request's host unless an IP (no SNI may name one),
 * which overrides the `sni` (the router's serverNameOverride wins in ClientContextImpl::newSsl); else
 * the `sni`; else none.
 */
export function originationServername(o: OriginationTls, forHost: string | undefined): string | undefined {
  return (o.autoSni && forHost && !isIP(forHost) ? forHost : undefined) ?? o.sni;
}

/**
 * The node:tls options for one connect, or a reason it cannot be made (a referenced secret has not
 * arrived): the connection then fails as Envoy's would (UF), rather than going out unverified.
 * `forHost`: the HTTP request's host (requestHost) the connection is made for; none for TCP, where
 * Envoy's auto_sni and auto_san_validation do nothing.
 */
export function originationOptions(o: OriginationTls, secrets: SecretLookup, forHost?: string, files: FileLookup = () => undefined): ConnectionOptions | string {
  const resolve = (m: Material | undefined): { cert?: string; key?: string; ca?: string } | undefined => {
    if (m?.kind === 'secret') return secrets(m.name);
    if (m?.kind !== 'file') return m?.kind === 'pem' ? m : undefined;
    // The watched file's last good version (what the compile read until it changed).
    const v = files(m.credential.id) ?? m.value;
    return typeof v === 'string' ? { ca: v } : v;
  };
  const ca = resolve(o.ca);
  if (o.ca && o.ca.kind !== 'system' && !ca?.ca) return `trust bundle ${o.ca.kind === 'secret' ? o.ca.name : ''} is not available`;
  const cert = resolve(o.cert);
  if (o.cert && !(cert?.cert && cert.key)) return `client certificate ${o.cert.kind === 'secret' ? o.cert.name : ''} is not available`;
  const servername = originationServername(o, forHost);
  const base = { ...(servername ? { servername } : {}), minVersion: 'TLSv1.2' as const, ...(cert?.cert && cert.key ? { cert: cert.cert, key: cert.key } : {}) };
  const autoSan = o.autoSanValidation ? forHost : undefined;
  // No CA (insecureSkipVerify): Envoy verifies nothing, neither the chain nor a name.
  if (!o.ca) return { ...base, rejectUnauthorized: false };
  return {
    ...base,
    rejectUnauthorized: true,
    ...(ca?.ca ? { ca: ca.ca } : {}),
    checkServerIdentity: (_name, peer) => {
      // auto_san_validation (Envoy's verify_subject_alt_name_list) is checked besides the SAN matchers.
      const forRequest = autoSan ? checkServerIdentity(autoSan, peer) : undefined;
      if (forRequest) return forRequest;
      // Without SANs: an explicit `sni` sent is checked (stricter than Envoy, which checks no name then).
      if (o.sans.length === 0 && !o.untypedSans) return o.sni && servername === o.sni ? checkServerIdentity(o.sni, peer) : undefined;
      const presented = (peer.subjectaltname ?? '').split(',').map((s) => s.trim().replace(/^(DNS|URI):/, ''));
      if (o.sans.some((san) => presented.includes(san))) return undefined;
      if (o.untypedSans && o.untypedSans.check.check(peer.raw) === undefined) return undefined;
      // Node's own code for a name mismatch, so the failure is classed as a TLS connect failure (UF).
      const wanted = [...o.sans, ...(o.untypedSans ? [o.untypedSans.check.toString()] : [])].join(', ');
      return Object.assign(new Error(`server certificate presents none of ${wanted}`), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    },
  };
}
