// SDS secrets (and the locally assembled `default` workload certificate) as PEM, and the certificates
// listeners and clusters read from files (watched), with TLS contexts built once per change, so rotation
// applies to new handshakes only.
import { createHash } from 'node:crypto';
import tls from 'node:tls';
import type { TypedAny } from '../../xds/any.ts';
import { ProxyConfigError } from './config-error.ts';
import type { EnvoySecret } from './envoy-shapes.ts';
import { type OriginationTls, originationFiles } from '../cluster/origination-tls.ts';
import { type DownstreamTls, fileCredentials } from '../tls/downstream-tls.ts';
import { FileCredentialWatch } from '../tls/file-credential-watch.ts';
import type { FileCredential, KeyPairPem } from '../tls/file-credentials.ts';
import { realTimers, type Timers } from '../http/router.ts';
import { serverTlsOptions } from '../tls/server-tls-params.ts';
import type { MeshTlsMaterial } from '../tunnel/mesh-tls.ts';

export interface SecretPem {
  cert?: string;
  key?: string;
  ca?: string;
}

function pem(ds: { inline_string?: string; inline_bytes?: string } | undefined): string | undefined {
  if (!ds) return undefined;
  if (ds.inline_string) return ds.inline_string;
  if (ds.inline_bytes) return Buffer.from(ds.inline_bytes, 'base64').toString('utf8');
  return undefined;
}

export function compileSecret(s: EnvoySecret): SecretPem {
  const out: SecretPem = {};
  const cert = pem(s.tls_certificate?.certificate_chain);
  const key = pem(s.tls_certificate?.private_key);
  const ca = pem(s.validation_context?.trusted_ca);
  if (s.tls_certificate && (!cert || !key)) throw new ProxyConfigError(`Secret ${s.name}`, 'tls_certificate', 'certificate_chain and private_key must be inline');
  if (cert) out.cert = cert;
  if (key) out.key = key;
  if (ca) out.ca = ca;
  if (!cert && !ca) throw new ProxyConfigError(`Secret ${s.name}`, 'type', 'tls_certificate or validation_context is required');
  return out;
}

export interface SecretStoreDeps {
  timers?: Timers;
  /** A changed certificate file that cannot be served (its last good version stays). */
  warn?(message: string): void;
}

/** No value: a key pair whose key did not match its certificate when compiled (being rotated). */
type HeldFile = { credential: FileCredential; value: KeyPairPem | string | undefined };

export class SecretStore {
  #fromXds = new Map<string, SecretPem>();
  #local = new Map<string, SecretPem>();
  #contexts = new Map<string, tls.SecureContext>();
  #raw = new Map<string, TypedAny>();
  #listeners = new Set<() => void>();
  #files: FileCredentialWatch;
  /** The file credentials each side names, with what its compile read: the watch holds their union. */
  #listenerFiles: HeldFile[] = [];
  #clusterFiles: HeldFile[] = [];

  constructor(deps: SecretStoreDeps = {}) {
    this.#files = new FileCredentialWatch({ timers: deps.timers ?? realTimers, onChange: () => this.#changed(), warn: deps.warn ?? (() => {}) });
  }

  /**
   * The TLS settings of the listeners now: the files they read are watched (once each, however many
   * name them, listeners or clusters), and those nothing names any more are not.
   */
  holdListenerFiles(chains: readonly DownstreamTls[]): void {
    this.#listenerFiles = chains.flatMap(fileCredentials);
    this.#hold(this.#listenerFiles, this.#clusterFiles);
  }

  /** The TLS origination of the clusters now (a DestinationRule's caCertificates, clientCertificate, privateKey), as holdListenerFiles. */
  holdClusterFiles(origination: readonly OriginationTls[]): void {
    this.#clusterFiles = origination.flatMap(originationFiles);
    this.#hold(this.#clusterFiles, this.#listenerFiles);
  }

  /**
   * One side's update: what its compile read counts (a differing read is a change the watch missed); the
   * other side's files keep their last good version, not what their older compile read.
   */
  #hold(updated: readonly HeldFile[], other: readonly HeldFile[]): void {
    const current = (f: HeldFile): HeldFile => ({ credential: f.credential, value: this.file(f.credential.id) ?? f.value });
    // Contexts are cached by file, not content: one built before a credential was let go must not be
    // served once it is held again, maybe rotated meanwhile.
    if (this.#files.hold([...other.map(current), ...updated])) this.#contexts.clear();
  }

  /** A watched file credential's last good version (a key pair, or a CA bundle). */
  file(id: string): KeyPairPem | string | undefined {
    return this.#files.keyPair(id) ?? this.#files.bundle(id);
  }

  /** The directories watched for certificate files. */
  watchedDirs(): string[] {
    return this.#files.watchedDirs();
  }

  close(): void {
    this.#files.close();
  }

  /**
   * An SDS response: as for every non-wildcard type, it carries the secrets that changed (istiod's
   * SecretGen sends only those a push updated); each replaces its own, the others stay, as Envoy's SdsApi
   * watches, one per name, are updated only when a response names them.
   */
  applyXds(secrets: readonly { name: string; pem: SecretPem }[], raw: TypedAny[]): void {
    for (const s of secrets) this.#fromXds.set(s.name, s.pem);
    for (const r of raw) this.#raw.set(String(r['name']), r);
    this.#changed();
  }

  /** The SDS names subscribed now: a secret no listener or cluster names any more goes, as its SdsApi does. */
  retainXds(names: readonly string[]): void {
    const keep = new Set(names);
    const gone = [...this.#fromXds.keys()].filter((name) => !keep.has(name));
    for (const name of gone) {
      this.#fromXds.delete(name);
      this.#raw.delete(name);
    }
    if (gone.length > 0) this.#changed();
  }

  /** A secret made locally (the `default` workload certificate from the CSR flow). */
  setLocal(name: string, value: SecretPem): void {
    this.#local.set(name, value);
    this.#changed();
  }

  onChange(fn: () => void): void {
    this.#listeners.add(fn);
  }

  #changed(): void {
    this.#contexts.clear();
    for (const fn of this.#listeners) fn();
  }

  get(name: string): SecretPem | undefined {
    return this.#local.get(name) ?? this.#fromXds.get(name);
  }

  names(): string[] {
    return [...new Set([...this.#fromXds.keys(), ...this.#local.keys()])];
  }

  raw(): readonly TypedAny[] {
    return [...this.#raw.values()];
  }

  /** Mesh material from `default` + `ROOTCA`, when both are present. */
  mesh(): MeshTlsMaterial | undefined {
    const d = this.get('default');
    const root = this.get('ROOTCA');
    if (!d?.cert || !d.key || !root?.ca) return undefined;
    return { key: d.key, cert: d.cert, ca: root.ca };
  }

  /**
   * A chain's secure-context options: all its certificates (an RSA and an ECDSA one are served side by
   * side), its client CA and its tls_params; undefined while one of its secrets is missing. Without a
   * CA the trust store is empty (`ca: []`), never Node's public roots: a client certificate is
   * checked only against the CA the chain names.
   */
  contextOptions(t: DownstreamTls): tls.SecureContextOptions | undefined {
    // A file's last good version once watched; before, what the listener's compile read.
    const pairs = t.certs.map((c) => ('secret' in c ? this.get(c.secret) : ((c.watched && this.#files.keyPair(c.watched.id)) ?? c.pem)));
    const ca = t.caSecret ? this.get(t.caSecret)?.ca : ((t.caWatched && this.#files.bundle(t.caWatched.id)) ?? t.caPem);
    if (pairs.some((p) => !p?.cert || !p.key) || (t.caSecret && !ca)) return undefined;
    // `ca: ''` would be no option at all, and node:tls would trust its public roots: an empty file is an empty store.
    return { cert: pairs.map((p) => p?.cert ?? ''), key: pairs.map((p) => p?.key ?? ''), ca: ca || [], ...serverTlsOptions(t.params) };
  }

  /** The chain's secure context, built once per change of its secrets or its files. */
  secureContext(t: DownstreamTls): tls.SecureContext | undefined {
    const cached = this.#contexts.get(t.contextKey);
    if (cached) return cached;
    const options = this.contextOptions(t);
    if (!options) return undefined;
    // Its own session ID context (SSL_CTX_set_session_id_context): OpenSSL refuses to resume a session
    // without one when it asks for a client certificate, and a session never resumes on another chain.
    const ctx = tls.createSecureContext({ ...options, sessionIdContext: createHash('sha256').update(t.contextKey).digest('hex').slice(0, 32) });
    this.#contexts.set(t.contextKey, ctx);
    return ctx;
  }
}
