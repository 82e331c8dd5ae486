// A filter chain's DownstreamTlsContext, compiled once per listener: its certificates (SDS secrets, or
// key pairs read from files now and watched from then on), the client CA, the client-certificate checks,
// ALPN and tls_params. The SecretStore (src/proxy/config/secrets.ts) builds the secure context from it
// once its secrets are here, and again when one of them, or one of its files, changes.
import { createHash } from 'node:crypto';
import { compilePeerCertValidator, PeerCertConfigError, type PeerCertValidator, type ValidationContextFields } from './peer-cert-validator.ts';
import { caCredential, checkKeyPair, dataSourcePem, type EnvoyDataSource, type FileCredential, fileRootPath, isFileSecret, type KeyPairPem, readFileRoot, dataSourcePairCredential, fileCertSecret } from './file-credentials.ts';
import { compileServerTlsParams, type EnvoyTlsParams, type ServerTlsParams, TlsConfigError } from './server-tls-params.ts';

/**
 * A certificate and its key: an SDS secret, or a pair read from files (`file` names it in errors;
 * `watched` reads it again when a file changes, absent for a pair given inline). No `pem`: its files held
 * no matching pair when compiled (caught mid-rotation); the chain serves no handshake until the watch
 * reads one, as a listener waits for a secret istio-agent retries.
 */
export type CertificateSource = { readonly secret: string } | { readonly file: string; readonly pem?: KeyPairPem; readonly watched?: FileCredential };

export interface DownstreamTls {
  /** Served together, one per key type (an RSA and an ECDSA certificate): the client's algorithms pick. */
  readonly certs: readonly CertificateSource[];
  /** The SDS secret holding the client CA (`ROOTCA` for Istio mTLS, `<credential>-cacert` on a gateway). */
  readonly caSecret?: string;
  /** A client CA read from a file (`file-root:`, `trusted_ca`), or given inline. */
  readonly caPem?: string;
  /** That file, read again when it changes. */
  readonly caWatched?: FileCredential;
  readonly requireClientCert: boolean;
  /** The validation context's SAN, SPKI and certificate-hash checks, run once per handshake on a client certificate. */
  readonly peerValidator?: PeerCertValidator;
  readonly params: ServerTlsParams;
  /** The SDS secrets the chain waits for. */
  readonly sdsSecrets: readonly string[];
  /**
   * Names the secure context: its secrets, its watched files (by name: the SecretStore drops its contexts
   * when one changes), inline PEM (by content) and the parameters. Chains of one key share a context.
   */
  readonly contextKey: string;
}

interface EnvoyCommonTlsContext {
  tls_params?: EnvoyTlsParams;
  tls_certificates?: { certificate_chain?: EnvoyDataSource; private_key?: EnvoyDataSource }[];
  tls_certificate_sds_secret_configs?: { name?: string }[];
  combined_validation_context?: { default_validation_context?: ValidationContextFields; validation_context_sds_secret_config?: { name?: string } };
  validation_context_sds_secret_config?: { name?: string };
  validation_context?: ValidationContextFields & { trusted_ca?: EnvoyDataSource };
  // alpn_protocols is not read: every terminating chain offers h2 and http/1.1 (pickAlpn), so Istio's
  // istio-peer-exchange is never negotiated (this proxy has no in-band metadata exchange).
}

const digest = (pem: string) => createHash('sha256').update(pem).digest('hex');

function certificates(common: EnvoyCommonTlsContext): CertificateSource[] {
  const inline = (common.tls_certificates ?? []).map((c, i): CertificateSource => {
    const field = `tls_certificates[${i}]`;
    const cert = dataSourcePem(c.certificate_chain, `${field}.certificate_chain`);
    const key = dataSourcePem(c.private_key, `${field}.private_key`);
    if (!cert || !key) throw new TlsConfigError(field, 'certificate_chain and private_key are required');
    const watched = dataSourcePairCredential(c.certificate_chain, c.private_key, { cert, key }, field);
    const pem = checkedPair({ cert, key }, c.certificate_chain?.filename ?? 'the inline certificate', c.private_key?.filename ?? 'the inline key', field, watched !== undefined);
    return { file: c.certificate_chain?.filename ?? field, ...(pem ? { pem } : {}), ...(watched ? { watched } : {}) };
  });
  const sds = (common.tls_certificate_sds_secret_configs ?? []).map((s, i): CertificateSource => {
    const field = `tls_certificate_sds_secret_configs[${i}].name`;
    if (!s.name) throw new TlsConfigError(field, 'a secret name is required');
    if (!isFileSecret(s.name)) return { secret: s.name };
    const files = fileCertSecret(s.name, field);
    const pem = checkedPair(files.pem, files.cert, files.key, field, true);
    return { file: s.name, ...(pem ? { pem } : {}), watched: files.credential };
  });
  const all = [...inline, ...sds];
  if (all.length === 0) throw new TlsConfigError('tls_certificates', 'a server needs tls_certificates or tls_certificate_sds_secret_configs');
  return all;
}

/**
 * The pair if its key matches its certificate. One in files that does not is being rotated: undefined,
 * and the watch reads it until it does (istio-agent's generateKeyCertFromExistingFiles retries it while
 * the listener waits), so the rest of the update applies. Given inline, it never will: refused.
 */
function checkedPair(pair: KeyPairPem, certName: string, keyName: string, field: string, inFiles: boolean): KeyPairPem | undefined {
  try {
    checkKeyPair(pair, certName, keyName, field);
    return pair;
  } catch (err) {
    if (inFiles && err instanceof TlsConfigError) return undefined;
    throw err;
  }
}

function clientCa(common: EnvoyCommonTlsContext): { caSecret?: string; caPem?: string; caWatched?: FileCredential } {
  const combined = common.combined_validation_context?.validation_context_sds_secret_config?.name;
  const name = combined ?? common.validation_context_sds_secret_config?.name;
  const field = combined !== undefined ? 'combined_validation_context.validation_context_sds_secret_config.name' : 'validation_context_sds_secret_config.name';
  if (name !== undefined) return isFileSecret(name) ? { caPem: readFileRoot(name, field), caWatched: caCredential(fileRootPath(name, field), field) } : { caSecret: name };
  const trusted = common.validation_context?.trusted_ca;
  const pem = dataSourcePem(trusted, 'validation_context.trusted_ca');
  if (!pem) return {};
  return trusted?.filename ? { caPem: pem, caWatched: caCredential(trusted.filename, 'validation_context.trusted_ca.filename') } : { caPem: pem };
}

/**
 * The client-certificate checks beyond the CA. One the proxy cannot enforce is refused, never dropped;
 * as in Envoy, matching SANs without a CA to verify the chain is refused (anyone can write a SAN).
 */
function clientValidation(common: EnvoyCommonTlsContext, hasCa: boolean): PeerCertValidator | undefined {
  const combined = common.combined_validation_context?.default_validation_context;
  const field = combined ? 'combined_validation_context.default_validation_context' : 'validation_context';
  let v: PeerCertValidator | undefined;
  try {
    v = compilePeerCertValidator(combined ?? common.validation_context, field);
  } catch (err) {
    if (err instanceof PeerCertConfigError) throw new TlsConfigError(err.field, err.message);
    throw err;
  }
  if (v && !hasCa) throw new TlsConfigError(field, 'client certificate checks need a trusted CA (validation_context_sds_secret_config)');
  return v;
}

/**
 * Compiles a DownstreamTlsContext. Throws TlsConfigError (its field relative to `common_tls_context`) for
 * what the proxy cannot serve, a file it cannot read among them.
 */
export function compileDownstreamTls(tc: Record<string, unknown>): DownstreamTls {
  const common = (tc['common_tls_context'] ?? {}) as EnvoyCommonTlsContext;
  const certs = certificates(common);
  const { caSecret, caPem, caWatched } = clientCa(common);
  const peerValidator = clientValidation(common, caSecret !== undefined || caPem !== undefined);
  const params = compileServerTlsParams(common.tls_params);
  const require = tc['require_client_certificate'] as { value?: boolean } | boolean | undefined;
  const sdsSecrets = [...certs.flatMap((c) => ('secret' in c ? [c.secret] : [])), ...(caSecret ? [caSecret] : [])];
  // A watched credential is named by its files, never by what this compile read: two chains whose files
  // hold the same PEM today may not tomorrow, and one must never serve the other's CA.
  const certKey = certs.map((c) => ('secret' in c ? `secret:${c.secret}` : c.watched ? `watched:${c.watched.id}` : `pem#${digest(`${c.pem?.cert}${c.pem?.key}`)}`)).join(',');
  const caKey = caSecret ? `secret:${caSecret}` : caWatched ? `watched:${caWatched.id}` : caPem ? `pem#${digest(caPem)}` : '';
  return {
    certs,
    ...(caSecret ? { caSecret } : {}),
    ...(caPem ? { caPem } : {}),
    ...(caWatched ? { caWatched } : {}),
    requireClientCert: typeof require === 'boolean' ? require : (require?.value ?? false),
    ...(peerValidator ? { peerValidator } : {}),
    params,
    sdsSecrets,
    contextKey: `${certKey}\n${caKey}\n${params.key}`,
  };
}

/** The chain's credentials read from files, with what its compile read: the SecretStore watches them. */
export function fileCredentials(t: DownstreamTls): { credential: FileCredential; value: KeyPairPem | string | undefined }[] {
  const pairs = t.certs.flatMap((c) => ('watched' in c && c.watched ? [{ credential: c.watched, value: c.pem }] : []));
  // A `file-root:` file read empty is watched too, so a CA written to it later is taken (as istio-agent
  // keeps watching a file it could not serve yet); meanwhile no client certificate verifies.
  return t.caWatched ? [...pairs, { credential: t.caWatched, value: t.caPem ?? '' }] : pairs;
}
