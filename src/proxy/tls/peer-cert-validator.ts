// The checks of a CertificateValidationContext beyond the CA, as Envoy's DefaultCertValidator makes
// them on a peer certificate: `match_typed_subject_alt_names` (any matcher matching passes),
// `verify_certificate_spki` and `verify_certificate_hash` (either list matching passes). Compiled once
// per listener; applied once per handshake, to a certificate the CA already verified.
import { createHash, X509Certificate } from 'node:crypto';
import { compileStringMatcher, type StringPredicate } from '../http/route/index.ts';
import type { EnvoyStringMatcher } from '../http/route/envoy-types.ts';

/** What a refused certificate counts as in the listener's TLS stats, as in Envoy. */
export type PeerCertFailure = 'fail_verify_san' | 'fail_verify_cert_hash';

export interface PeerCertValidator {
  /** undefined when the certificate passes every configured kind of check. */
  check(der: Buffer): PeerCertFailure | undefined;
  toString(): string;
}

/** The SAN types Envoy matches by name; OTHER_NAME (by OID) is not supported. */
type SanType = 'DNS' | 'URI' | 'EMAIL' | 'IP_ADDRESS';
const SAN_TYPES: ReadonlySet<string> = new Set(['DNS', 'URI', 'EMAIL', 'IP_ADDRESS']);
/** How node:crypto labels each type in `subjectAltName`. */
const NODE_SAN_LABEL: Record<string, SanType> = { DNS: 'DNS', URI: 'URI', email: 'EMAIL', 'IP Address': 'IP_ADDRESS' };

export interface ValidationContextFields {
  match_typed_subject_alt_names?: { san_type?: string; matcher?: EnvoyStringMatcher }[];
  /** Untyped (deprecated): each matcher is tried against every SAN type Envoy matches by name. */
  match_subject_alt_names?: EnvoyStringMatcher[];
  verify_certificate_spki?: string[];
  verify_certificate_hash?: string[];
}

/** A config error with the field it is about (the listener compiler adds the resource). */
export class PeerCertConfigError extends Error {
  readonly field: string;
  constructor(field: string, problem: string) {
    super(problem);
    this.field = field;
  }
}

interface SanMatcher {
  readonly type: SanType;
  readonly value: StringPredicate;
  /** DNS with an `exact` matcher: a wildcard SAN (`*.example.com`) covers one label, as Envoy's dnsNameMatch. */
  readonly dnsExact?: string;
}

/** Envoy's dnsNameMatch: case-insensitive; `*.example.com` covers exactly one more label. */
export function dnsNameMatch(name: string, san: string): boolean {
  const n = name.toLowerCase();
  const p = san.toLowerCase();
  if (n === p) return true;
  if (p.length > 1 && p.startsWith('*.') && n.length > p.length - 1) {
    const off = n.length - p.length + 1;
    return !n.slice(0, off).includes('.') && n.slice(off) === p.slice(1);
  }
  return false;
}

/** IPv6 as inet_ntop writes it (compressed, lower case): node:crypto writes every group. */
function canonicalIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip;
  }
}

/**
 * The certificate's SANs by type. node:crypto lists them as `TYPE:value, ...`, quoting (JSON) a value
 * that holds a comma, a quote or a control character, so splitting on `, ` cannot cut inside a value.
 */
export function subjectAltNames(cert: X509Certificate): { type: SanType; value: string }[] {
  const out: { type: SanType; value: string }[] = [];
  for (const entry of (cert.subjectAltName ?? '').split(', ')) {
    const colon = entry.indexOf(':');
    const type = colon > 0 ? NODE_SAN_LABEL[entry.slice(0, colon)] : undefined;
    if (!type) continue;
    let value = entry.slice(colon + 1);
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue;
      }
    }
    out.push({ type, value: type === 'IP_ADDRESS' ? canonicalIp(value) : value });
  }
  return out;
}

class ContextValidator implements PeerCertValidator {
  readonly #sans: readonly SanMatcher[];
  readonly #spki: ReadonlySet<string>;
  readonly #hashes: ReadonlySet<string>;
  constructor(sans: readonly SanMatcher[], spki: ReadonlySet<string>, hashes: ReadonlySet<string>) {
    this.#sans = sans;
    this.#spki = spki;
    this.#hashes = hashes;
  }

  check(der: Buffer): PeerCertFailure | undefined {
    const cert = new X509Certificate(der);
    if (this.#sans.length > 0 && !this.#matchSan(cert)) return 'fail_verify_san';
    if (this.#spki.size > 0 || this.#hashes.size > 0) {
      const hash = this.#hashes.size > 0 && this.#hashes.has(createHash('sha256').update(der).digest('hex'));
      const spki = !hash && this.#spki.size > 0 && this.#spki.has(createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64'));
      if (!hash && !spki) return 'fail_verify_cert_hash';
    }
    return undefined;
  }

  #matchSan(cert: X509Certificate): boolean {
    const sans = subjectAltNames(cert);
    return this.#sans.some((m) => sans.some((s) => s.type === m.type && (m.dnsExact !== undefined ? dnsNameMatch(m.dnsExact, s.value) : m.value.match(s.value))));
  }

  toString(): string {
    const parts = [
      ...(this.#sans.length ? [`san any of [${this.#sans.map((m) => `${m.type} ${m.value}`).join(', ')}]`] : []),
      ...(this.#hashes.size || this.#spki.size ? [`cert hash ${this.#hashes.size} or spki ${this.#spki.size}`] : []),
    ];
    return parts.join(' and ');
  }
}

function compileSanMatcher(raw: { san_type?: string; matcher?: EnvoyStringMatcher }, field: string): SanMatcher {
  const type = raw.san_type ?? 'SAN_TYPE_UNSPECIFIED';
  if (!SAN_TYPES.has(type)) throw new PeerCertConfigError(`${field}.san_type`, `unsupported san_type ${type} (DNS, URI, EMAIL or IP_ADDRESS)`);
  let value: StringPredicate;
  try {
    value = compileStringMatcher(raw.matcher, `${field}.matcher`);
  } catch (err) {
    throw new PeerCertConfigError(`${field}.matcher`, err instanceof Error ? err.message : String(err));
  }
  const exact = raw.matcher?.exact;
  return { type: type as SanType, value, ...(type === 'DNS' && exact !== undefined ? { dnsExact: exact } : {}) };
}

/**
 * Compiles the checks of a validation context; undefined when it sets none. Throws PeerCertConfigError
 * for anything it cannot enforce (never drops a check: dropping the last would turn it off).
 */
export function compilePeerCertValidator(vc: ValidationContextFields | undefined, field: string): PeerCertValidator | undefined {
  if (!vc) return undefined;
  // Envoy's getSubjectAltNameMatchers: an untyped matcher becomes one per type (DNS, URI, EMAIL, IP_ADDRESS).
  const untyped = (vc.match_subject_alt_names ?? []).flatMap((matcher, i) => [...SAN_TYPES].map((san_type) => compileSanMatcher({ san_type, matcher }, `${field}.match_subject_alt_names[${i}]`)));
  const sans = [...(vc.match_typed_subject_alt_names ?? []).map((m, i) => compileSanMatcher(m, `${field}.match_typed_subject_alt_names[${i}]`)), ...untyped];
  const spki = (vc.verify_certificate_spki ?? []).map((v, i) => {
    if (Buffer.from(v, 'base64').length !== 32 || !/^[A-Za-z0-9+/]+={0,2}$/.test(v)) throw new PeerCertConfigError(`${field}.verify_certificate_spki[${i}]`, `${JSON.stringify(v)} is not a base64 SHA-256 digest`);
    return Buffer.from(v, 'base64').toString('base64');
  });
  const hashes = (vc.verify_certificate_hash ?? []).map((v, i) => {
    const hex = v.replaceAll(':', '').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new PeerCertConfigError(`${field}.verify_certificate_hash[${i}]`, `${JSON.stringify(v)} is not a hex SHA-256 digest`);
    return hex;
  });
  if (!sans.length && !spki.length && !hashes.length) return undefined;
  return new ContextValidator(sans, new Set(spki), new Set(hashes));
}
