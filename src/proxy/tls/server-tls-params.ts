// A DownstreamTlsContext's `tls_params` as node:tls options, with Envoy's server defaults where unset
// (ServerContextConfigImpl: TLS 1.2 to 1.3, ECDHE with AEAD suites, X25519 and P-256). Compiled once per
// listener; a name OpenSSL cannot serve is refused, as BoringSSL's strict cipher list refuses one.
import { createSecureContext, type SecureVersion } from 'node:tls';
import { constants } from 'node:crypto';

export interface ServerTlsParams {
  readonly minVersion: SecureVersion;
  readonly maxVersion: SecureVersion;
  /** OpenSSL cipher string: the TLS 1.3 suites, then the TLS 1.0-1.2 list. */
  readonly ciphers: string;
  readonly ecdhCurve: string;
  /** SSL_OP_PRIORITIZE_CHACHA where an equal-preference group holds a ChaCha20 suite. */
  readonly secureOptions: number;
  /** Identifies the parameters in a secure-context cache key. */
  readonly key: string;
}

/** Envoy's TlsParameters fields. */
export interface EnvoyTlsParams {
  tls_minimum_protocol_version?: string;
  tls_maximum_protocol_version?: string;
  cipher_suites?: string[];
  ecdh_curves?: string[];
}

/** Envoy's default server list (non-FIPS): `[A|B]` is one of BoringSSL's equal-preference groups. */
export const ENVOY_SERVER_CIPHERS: readonly string[] = [
  '[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]',
  '[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
];
const ENVOY_SERVER_CURVES: readonly string[] = ['X25519', 'P-256'];

/** BoringSSL's TLS 1.3 suites: always on, not configurable (cipher_suites applies to TLS 1.0-1.2 only). */
const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

const VERSIONS: Record<string, SecureVersion | undefined> = {
  TLS_AUTO: undefined,
  TLSv1_0: 'TLSv1',
  TLSv1_1: 'TLSv1.1',
  TLSv1_2: 'TLSv1.2',
  TLSv1_3: 'TLSv1.3',
};

/** BoringSSL also takes a suite's standard (IETF) name; OpenSSL takes only its own. */
const STANDARD_NAMES: Record<string, string> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: 'DES-CBC3-SHA',
};

/** TLS settings the proxy cannot serve (a parameter, a file); the listener compiler names the resource. */
export class TlsConfigError extends Error {
  readonly field: string;
  constructor(field: string, problem: string) {
    super(problem);
    this.field = field;
  }
}

function version(raw: string | undefined, fallback: SecureVersion, field: string): SecureVersion {
  if (raw === undefined) return fallback;
  if (!(raw in VERSIONS)) throw new TlsConfigError(field, `unknown TLS version ${raw}`);
  return VERSIONS[raw] ?? fallback;
}

/** Whether OpenSSL takes `ciphers` (it ignores unknown names unless none is left, so each name is tried alone). */
function opensslTakes(ciphers: string): boolean {
  try {
    createSecureContext({ ciphers, minVersion: 'TLSv1', maxVersion: 'TLSv1.2' });
    return true;
  } catch {
    return false;
  }
}

/** BoringSSL's cipher rules as OpenSSL's: groups are flattened, standard names renamed, TLS 1.3 names dropped. */
function cipherList(suites: readonly string[]): { list: string; chachaGroup: boolean } {
  const out: string[] = [];
  let chachaGroup = false;
  suites.forEach((entry, i) => {
    const field = `cipher_suites[${i}]`;
    const group = entry.startsWith('[') && entry.endsWith(']');
    const names = group ? entry.slice(1, -1).split('|') : [entry];
    for (const raw of names) {
      const name = STANDARD_NAMES[raw] ?? raw;
      if (TLS13_SUITES.includes(name)) continue;
      // Operators (`-`, `+`, `!`) and aliases (`ALL`) are OpenSSL's syntax too; only a plain name must match alone.
      if (/^[A-Za-z0-9]/.test(name) && !opensslTakes(name)) throw new TlsConfigError(field, `unsupported cipher suite ${raw}`);
      if (group && name.includes('CHACHA20')) chachaGroup = true;
      out.push(name);
    }
  });
  const list = out.join(':');
  if (!out.some((n) => /^[A-Za-z0-9]/.test(n)) || !opensslTakes(list)) throw new TlsConfigError('cipher_suites', 'no TLS 1.0-1.2 cipher suite left (TLS 1.3 suites are not configurable)');
  return { list, chachaGroup };
}

function curves(list: readonly string[]): string {
  list.forEach((c, i) => {
    try {
      createSecureContext({ ecdhCurve: c });
    } catch {
      throw new TlsConfigError(`ecdh_curves[${i}]`, `unsupported ECDH curve ${c}`);
    }
  });
  return list.join(':');
}

/** Compiled parameters by their JSON: validating tries OpenSSL contexts, so each distinct set is compiled once. */
const compiled = new Map<string, ServerTlsParams>();

/** Compiles `tls_params` (absent: Envoy's server defaults). Throws TlsConfigError for what OpenSSL cannot serve. */
export function compileServerTlsParams(p: EnvoyTlsParams | undefined): ServerTlsParams {
  const id = JSON.stringify(p ?? {});
  const known = compiled.get(id);
  if (known) return known;
  const minVersion = version(p?.tls_minimum_protocol_version, 'TLSv1.2', 'tls_minimum_protocol_version');
  const maxVersion = version(p?.tls_maximum_protocol_version, 'TLSv1.3', 'tls_maximum_protocol_version');
  // The names sort in version order ('TLSv1' < 'TLSv1.1' < ...).
  if (minVersion > maxVersion) throw new TlsConfigError('tls_params', `tls_minimum_protocol_version ${minVersion} is above tls_maximum_protocol_version ${maxVersion}`);
  const { list, chachaGroup } = cipherList(p?.cipher_suites?.length ? p.cipher_suites : ENVOY_SERVER_CIPHERS);
  const ecdhCurve = curves(p?.ecdh_curves?.length ? p.ecdh_curves : ENVOY_SERVER_CURVES);
  // BoringSSL's three TLS 1.3 suites, named so OpenSSL's own TLS 1.3 default cannot differ.
  const ciphers = [...TLS13_SUITES, list].join(':');
  const secureOptions = chachaGroup ? constants.SSL_OP_PRIORITIZE_CHACHA : 0;
  const params = { minVersion, maxVersion, ciphers, ecdhCurve, secureOptions, key: `${minVersion}|${maxVersion}|${ciphers}|${ecdhCurve}|${secureOptions}` };
  try {
    createSecureContext(serverTlsOptions(params));
  } catch (err) {
    throw new TlsConfigError('tls_params', err instanceof Error ? err.message : String(err));
  }
  compiled.set(id, params);
  return params;
}

/** The node:tls options of compiled parameters (the server's cipher order wins, as in Envoy). */
export function serverTlsOptions(p: ServerTlsParams) {
  return { minVersion: p.minVersion, maxVersion: p.maxVersion, ciphers: p.ciphers, ecdhCurve: p.ecdhCurve, honorCipherOrder: true, ...(p.secureOptions ? { secureOptions: p.secureOptions } : {}) };
}
