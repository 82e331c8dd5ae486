// The mesh's certificate authority: a self-signed root kept in a state directory, or a plugged-in
// Istio `cacerts` root and intermediate; signs workload SVIDs and keeps a multi-root trust bundle.
import { CaError } from './ca-error.ts';
import { readCaMaterial, writeCaMaterial, type CaMaterial } from './ca-store.ts';
import { checkCsr } from './csr-check.ts';
import { exportPrivateKeyPem, generateP256, importPrivateKeyPem, signingAlgorithmFor, splitPemCertificates } from './keys.ts';
import { DEFAULT_WORKLOAD_TTL_SECONDS, formatTtl, MAX_WORKLOAD_TTL_SECONDS, SELF_SIGNED_ROOT_TTL_SECONDS } from './lifetimes.ts';
import { createSelfSignedRoot, randomSerial } from './self-signed-root.ts';
import { formatSpiffeId, isTrustDomain, type WorkloadIdentity } from './spiffe-id.ts';
import { x509 } from './x509.ts';

export interface CertificateAuthorityOptions {
  trustDomain?: string;
  /** istiod's DEFAULT_WORKLOAD_CERT_TTL: the lifetime of a workload certificate whose CSR asks for none (24 h). */
  defaultTtlSeconds?: number;
  /** istiod's MAX_WORKLOAD_CERT_TTL: a CSR asking for longer is refused, not capped (90 days). */
  maxTtlSeconds?: number;
  /**
   * istiod's CITADEL_SELF_SIGNED_CA_CERT_TTL: the lifetime of a self-signed root this CA makes (first start,
   * ephemeral, rotation; 10 years). A root already kept in the state directory keeps its own.
   */
  rootTtlSeconds?: number;
  /** Wall clock in ms (certificates are checked by peers against real time). */
  now?: () => number;
}

interface Lifetimes {
  defaultTtl: number;
  maxTtl: number;
  rootTtl: number;
}

/** The options' lifetimes with Istio's defaults; a lifetime that is not a positive number is refused before any root is made. */
function lifetimesOf(o: CertificateAuthorityOptions): Lifetimes {
  for (const name of ['defaultTtlSeconds', 'maxTtlSeconds', 'rootTtlSeconds'] as const) {
    const v = o[name];
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new CaError('CA_BAD_TTL', `${name} must be a positive number of seconds, not ${v}`);
  }
  return {
    defaultTtl: o.defaultTtlSeconds ?? DEFAULT_WORKLOAD_TTL_SECONDS,
    maxTtl: o.maxTtlSeconds ?? MAX_WORKLOAD_TTL_SECONDS,
    rootTtl: o.rootTtlSeconds ?? SELF_SIGNED_ROOT_TTL_SECONDS,
  };
}

interface Signer {
  cert: x509.X509Certificate;
  key: CryptoKey;
  /** The signing certificate and its issuers up to and including the root. */
  chain: string[];
}

function dedupe(pems: readonly string[]): string[] {
  const seen = new Set<string>();
  return pems.filter((p) => {
    const k = p.replace(/\s+/g, '');
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export class CertificateAuthority {
  readonly trustDomain: string;
  #signer: Signer;
  #roots: string[];
  #stateDir: string | undefined;
  #material: CaMaterial;
  #lifetimes: Lifetimes;
  #now: () => number;
  #leafExpiry = new Map<string, Date>();
  #bundleListeners = new Set<(bundle: readonly string[]) => void>();
  /** Signers a root rotation retired, with their roots, while those stay trusted: their leaves are still this CA's. */
  #retiredSigners: { signer: string; root: string }[] = [];

  private constructor(signer: Signer, material: CaMaterial, stateDir: string | undefined, o: CertificateAuthorityOptions) {
    this.trustDomain = o.trustDomain ?? 'cluster.local';
    // Every identity it issues is checked by its peers as a SPIFFE ID: a domain that cannot make one
    // would make a mesh where every handshake fails.
    if (!isTrustDomain(this.trustDomain)) throw new CaError('CA_BAD_TRUST_DOMAIN', `trust domain ${JSON.stringify(this.trustDomain)} is not a SPIFFE trust domain (lower-case letters, digits, '.', '-', '_')`);
    this.#signer = signer;
    this.#material = material;
    this.#roots = dedupe(splitPemCertificates(material.trustBundlePem));
    this.#stateDir = stateDir;
    this.#lifetimes = lifetimesOf(o);
    this.#now = o.now ?? Date.now;
  }

  /** An in-memory CA with a fresh self-signed root (tests, ephemeral meshes). */
  static async ephemeral(o: CertificateAuthorityOptions = {}): Promise<CertificateAuthority> {
    const material = await selfSignedMaterial(o.trustDomain ?? 'cluster.local', (o.now ?? Date.now)(), lifetimesOf(o).rootTtl);
    return CertificateAuthority.#fromMaterial(material, undefined, o);
  }

  /**
   * Loads the CA from `dir`, creating and persisting a self-signed root there (0600) the first time. A root
   * already there is used as it is, whatever `rootTtlSeconds` says now (as istiod keeps istio-ca-secret).
   */
  static async fromStateDir(dir: string, o: CertificateAuthorityOptions = {}): Promise<CertificateAuthority> {
    const { rootTtl } = lifetimesOf(o);
    let material = readCaMaterial(dir);
    if (!material) {
      material = await selfSignedMaterial(o.trustDomain ?? 'cluster.local', (o.now ?? Date.now)(), rootTtl);
      writeCaMaterial(dir, material);
    }
    return CertificateAuthority.#fromMaterial(material, dir, o);
  }

  /** Uses a plugged-in root and intermediate in Istio's `cacerts` layout; never writes to `dir`. */
  static async fromCacerts(dir: string, o: CertificateAuthorityOptions = {}): Promise<CertificateAuthority> {
    lifetimesOf(o);
    const material = readCaMaterial(dir);
    if (!material) throw new CaError('CA_LOAD_FAILED', `${dir} holds no ca-cert.pem / ca-key.pem`);
    return CertificateAuthority.#fromMaterial(material, undefined, o);
  }

  static async #fromMaterial(m: CaMaterial, dir: string | undefined, o: CertificateAuthorityOptions) {
    const key = await importPrivateKeyPem(m.caKeyPem);
    const cert = new x509.X509Certificate(m.caCertPem);
    const chainCerts = splitPemCertificates(m.certChainPem);
    const root = splitPemCertificates(m.rootCertPem)[0];
    if (!root) throw new CaError('CA_LOAD_FAILED', 'root-cert.pem holds no certificate');
    const chain = dedupe([...splitPemCertificates(m.caCertPem), ...chainCerts, root]);
    return new CertificateAuthority({ cert, key, chain }, m, dir, o);
  }

  /** Every trusted root (PEM); what proxies receive as the `ROOTCA` secret. */
  trustBundle(): readonly string[] {
    return this.#roots;
  }

  /** The signing certificate and its issuers up to its root (PEM): what signs the leaves issued now. */
  signingChain(): readonly string[] {
    return this.#signer.chain;
  }

  /**
   * The certificates that sign this CA's own workload certificates (PEM): the current signer, and the
   * signers a rotation in this process retired while their roots stay in the bundle. Not the bundle's
   * other roots (federated, or plugged in beside the signer) nor the signer's own issuers: a leaf they
   * sign is no workload of this CA, whatever SPIFFE ID it carries, so it proves nothing to the CA.
   */
  ownSigners(): readonly string[] {
    return [this.#signer.chain[0] as string, ...this.#retiredSigners.map((r) => r.signer)];
  }

  /** Called with the new bundle whenever a root is added or removed (push `ROOTCA` again). */
  onTrustBundleChange(listener: (bundle: readonly string[]) => void): () => void {
    this.#bundleListeners.add(listener);
    return () => this.#bundleListeners.delete(listener);
  }

  rootExpiry(): Date {
    return new x509.X509Certificate(this.#signer.chain.at(-1)!).notAfter;
  }

  /** How long the signing root was made to live (notAfter − notBefore), in seconds. */
  rootLifetimeSeconds(): number {
    const root = new x509.X509Certificate(this.#signer.chain.at(-1)!);
    return (root.notAfter.getTime() - root.notBefore.getTime()) / 1000;
  }

  /** When the signing certificate (intermediate, or the root when self-signed) expires. */
  certChainExpiry(): Date {
    return this.#signer.cert.notAfter;
  }

  /** Per SPIFFE ID, the expiry of the latest certificate this CA issued. */
  leafExpiry(): ReadonlyMap<string, Date> {
    return this.#leafExpiry;
  }

  /**
   * Signs `csrPem` for `identity` (the authenticated caller's): the certificate carries exactly that one
   * URI SAN whatever the CSR asked. Returns `[leaf, ...intermediates, root]` PEMs, root last (Istio's order).
   * Lifetime as istiod's: `ttlSeconds` when given, the default when not (or ≤ 0, as a CSR says "none"),
   * and a TTL above the maximum is refused (`CA_BAD_TTL`), not shortened.
   */
  async sign(csrPem: string, identity: WorkloadIdentity, ttlSeconds?: number): Promise<string[]> {
    const id = formatSpiffeId(this.trustDomain, identity);
    const csr = await checkCsr(csrPem, id);
    const { defaultTtl, maxTtl } = this.#lifetimes;
    const asked = ttlSeconds !== undefined && ttlSeconds > 0 ? ttlSeconds : undefined;
    // istiod checks the requested TTL only: the default is the operator's own choice, granted even above the maximum.
    if (asked !== undefined && asked > maxTtl) throw new CaError('CA_BAD_TTL', `requested TTL ${formatTtl(asked)} is greater than the max allowed TTL ${formatTtl(maxTtl)}`);
    const { leaf, notAfter } = await this.#issueLeaf(csr.publicKey, asked ?? defaultTtl, {
      // digitalSignature | keyEncipherment, server and client: a workload is both ends of mesh mTLS.
      clientAuth: true,
      // Empty subject: the SAN carries the identity and must then be critical (RFC 5280 §4.2.1.6).
      san: [{ type: 'url', value: id }],
    });
    this.#leafExpiry.set(id, notAfter);
    return [leaf, ...this.#signer.chain];
  }

  /**
   * A TLS serving certificate for the control plane itself (istiod's `istiod.istio-system.svc` on
   * 15012): a fresh P-256 key and a leaf with the given DNS SANs, signed like workload certificates.
   * Returns the chain (leaf first, root last) and the key as PKCS#8 PEM.
   */
  async issueServingCertificate(dnsNames: readonly string[], ttlSeconds?: number): Promise<{ certChain: string[]; keyPem: string }> {
    if (dnsNames.length === 0) throw new CaError('CA_BAD_CSR', 'a serving certificate needs at least one DNS name');
    const keys = await generateP256();
    const { defaultTtl, maxTtl } = this.#lifetimes;
    // The control plane's own certificate is not a request from outside: capped, never refused.
    const ttl = Math.min(ttlSeconds !== undefined && ttlSeconds > 0 ? ttlSeconds : defaultTtl, maxTtl);
    const { leaf } = await this.#issueLeaf(keys.publicKey, ttl, { clientAuth: false, san: dnsNames.map((value) => ({ type: 'dns' as const, value })) });
    return { certChain: [leaf, ...this.#signer.chain], keyPem: await exportPrivateKeyPem(keys.privateKey) };
  }

  /** One leaf signed by this CA, living `ttl` seconds but never past the signer's own expiry. */
  async #issueLeaf(
    publicKey: CryptoKey | x509.PublicKey,
    ttl: number,
    use: { clientAuth: boolean; san: { type: 'url' | 'dns'; value: string }[] },
  ): Promise<{ leaf: string; notAfter: Date }> {
    // X.509 times have second precision: round so the stated lifetime is exact.
    const now = Math.floor(this.#now() / 1000) * 1000;
    // Never outlive the signer: a leaf past its issuer's expiry fails verification anyway.
    const notAfter = new Date(Math.min(now + ttl * 1000, this.#signer.cert.notAfter.getTime()));
    const usages = use.clientAuth ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.serverAuth];
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: '',
      issuer: this.#signer.cert.subject,
      notBefore: new Date(now - 60_000),
      notAfter,
      publicKey,
      signingKey: this.#signer.key,
      signingAlgorithm: signingAlgorithmFor(this.#signer.key),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension(usages),
        new x509.SubjectAlternativeNameExtension(use.san, true),
        await x509.AuthorityKeyIdentifierExtension.create(this.#signer.cert),
      ],
    });
    return { leaf: `${leaf.toString('pem')}\n`, notAfter };
  }

  /** Adds a root to the trust bundle (first step of a root rotation, or a federated root). */
  addTrustedRoot(pem: string): void {
    this.#setRoots(dedupe([...this.#roots, ...splitPemCertificates(pem)]));
  }

  /** Removes a root from the bundle (last step of a rotation). The signing root cannot be removed. */
  removeTrustedRoot(pem: string): void {
    const drop = new Set(splitPemCertificates(pem).map((p) => p.replace(/\s+/g, '')));
    const signingRoot = this.#signer.chain.at(-1)!.replace(/\s+/g, '');
    if (drop.has(signingRoot)) throw new CaError('CA_LOAD_FAILED', 'cannot remove the root that signs certificates');
    this.#retiredSigners = this.#retiredSigners.filter((r) => !drop.has(r.root.replace(/\s+/g, '')));
    this.#setRoots(this.#roots.filter((r) => !drop.has(r.replace(/\s+/g, ''))));
  }

  /**
   * Root rotation, step 1+2: a new self-signed root becomes the signer and joins the bundle; the old
   * root stays trusted until `removeTrustedRoot(old)` once workloads are reissued. Returns the old root.
   */
  async rotateSelfSignedRoot(): Promise<string> {
    const old = this.#signer.chain.at(-1)!;
    // The old signer's leaves stay this CA's until its root leaves the bundle.
    this.#retiredSigners.push({ signer: this.#signer.chain[0] as string, root: old });
    const fresh = await selfSignedMaterial(this.trustDomain, this.#now(), this.#lifetimes.rootTtl);
    const key = await importPrivateKeyPem(fresh.caKeyPem);
    this.#signer = { cert: new x509.X509Certificate(fresh.caCertPem), key, chain: [fresh.rootCertPem] };
    this.#material = { ...fresh, trustBundlePem: this.#material.trustBundlePem };
    this.#setRoots(dedupe([...this.#roots, fresh.rootCertPem]));
    return old;
  }

  #setRoots(roots: string[]): void {
    this.#roots = roots;
    this.#material = { ...this.#material, trustBundlePem: roots.join('') };
    if (this.#stateDir) writeCaMaterial(this.#stateDir, this.#material);
    for (const l of this.#bundleListeners) l(roots);
  }
}

async function selfSignedMaterial(trustDomain: string, nowMs: number, rootTtlSeconds: number): Promise<CaMaterial> {
  const { cert, keys } = await createSelfSignedRoot(trustDomain, nowMs, rootTtlSeconds);
  const pem = `${cert.toString('pem')}\n`;
  const keyPem = await exportPrivateKeyPem(keys.privateKey);
  return { caCertPem: pem, caKeyPem: keyPem, rootCertPem: pem, certChainPem: '', trustBundlePem: pem };
}
