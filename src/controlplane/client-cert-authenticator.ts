// Istio's ClientCertAuthenticator: the identity of a caller on the TLS xDS port that presented its
// workload certificate. The port asks for a certificate without requiring one, so the chain is checked
// here: signed by the mesh CA's own signer (or one a root rotation retired while its root is still
// trusted; never another root of the bundle, such as a federated one), valid by the control plane's
// clock, one Istio SPIFFE ID in the mesh's trust domain (or an alias). Anything else proves nothing.
import { createHash, X509Certificate } from 'node:crypto';
import { CaError } from '../ca/ca-error.ts';
import { parseSpiffeId, type WorkloadIdentity } from '../ca/spiffe-id.ts';
import { spiffeIdOf } from '../ca/svid.ts';

/** What grpc-js's `call.getAuthContext()` says of the peer (it names only a certificate TLS verified). */
export interface PeerAuthContext {
  sslPeerCertificate?: { raw?: Buffer } | undefined;
}

export type ClientCertResult =
  | { kind: 'none' }
  | { kind: 'refused'; code: 'BAD_CERT' | 'CERT_EXPIRED'; reason: string }
  | { kind: 'verified'; identity: WorkloadIdentity; spiffeId: string; expiresAtMs: number };

export interface ClientCertTrust {
  /** The certificates that sign the CA's own leaves (`CertificateAuthority.ownSigners`), PEM: a leaf must be signed by one. */
  issuers(): readonly string[];
  /** The trust domains whose identities this mesh accepts: the CA's first, then its aliases. */
  trustDomains(): readonly string[];
  now(): number;
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
/**
 * How many presented certificates' parses are kept. Parsing the SAN costs about a millisecond, and a
 * stream's certificate is checked again before each push, so it is parsed once; the oldest goes first.
 */
const REMEMBERED = 1024;

/** What a certificate's bytes say, whatever the trust: parsed once per distinct certificate. */
type Parsed =
  | { ok: false; reason: string }
  | {
      ok: true;
      leaf: X509Certificate;
      spiffeId: string;
      notBefore: number;
      notAfter: number;
      /** The issuer found among `among` (the issuer list in force then): looked for again when it changes. */
      issuedBy?: { among: readonly X509Certificate[]; issuer: X509Certificate | undefined };
    };

/** Verifies the presented leaf of one call; `none` when it presented none. */
export class ClientCertAuthenticator {
  #trust: ClientCertTrust;
  /** The issuers parsed once per bundle, not per call. */
  #parsed: { key: string; certs: X509Certificate[] } | undefined;
  /** Presented certificates by their SHA-256, oldest first. */
  #leaves = new Map<string, Parsed>();

  constructor(trust: ClientCertTrust) {
    this.#trust = trust;
  }

  authenticate(context: PeerAuthContext | null | undefined): ClientCertResult {
    const raw = context?.sslPeerCertificate?.raw;
    if (!raw || raw.length === 0) return { kind: 'none' };
    const seen = this.#parse(raw);
    if (!seen.ok) return refused('BAD_CERT', seen.reason);
    const { leaf, spiffeId, notBefore, notAfter } = seen;
    const now = this.#trust.now();
    const issuers = this.#issuers();
    if (seen.issuedBy?.among !== issuers) seen.issuedBy = { among: issuers, issuer: issuers.find((c) => leaf.checkIssued(c) && leaf.verify(c.publicKey)) };
    const issuer = seen.issuedBy.issuer;
    if (!issuer) return refused('BAD_CERT', `client certificate ${spiffeId} is not signed by the mesh CA`);
    if (now < notBefore) return refused('BAD_CERT', `client certificate ${spiffeId} is not valid before ${new Date(notBefore).toISOString()}`);
    if (now >= notAfter) return refused('CERT_EXPIRED', `client certificate ${spiffeId} expired at ${new Date(notAfter).toISOString()}`);
    if (now < Date.parse(issuer.validFrom) || now > Date.parse(issuer.validTo)) return refused('BAD_CERT', `client certificate ${spiffeId}: its issuer is not valid now`);
    if (leaf.keyUsage !== undefined && !leaf.keyUsage.includes(CLIENT_AUTH)) return refused('BAD_CERT', `client certificate ${spiffeId} is not for client authentication`);
    const id = parseSpiffeId(spiffeId);
    if (!id) return refused('BAD_CERT', `client certificate ${spiffeId} is no workload identity (spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT)`);
    if (!this.#trust.trustDomains().includes(id.trustDomain)) return refused('BAD_CERT', `client certificate ${spiffeId} is not in the mesh's trust domain`);
    return { kind: 'verified', identity: { namespace: id.namespace, serviceAccount: id.serviceAccount }, spiffeId, expiresAtMs: notAfter };
  }

  #parse(raw: Buffer): Parsed {
    const key = createHash('sha256').update(raw).digest('base64');
    const known = this.#leaves.get(key);
    if (known) return known;
    let parsed: Parsed;
    try {
      const leaf = new X509Certificate(raw);
      parsed = { ok: true, leaf, spiffeId: spiffeIdOf(raw), notBefore: Date.parse(leaf.validFrom), notAfter: Date.parse(leaf.validTo) };
    } catch (err) {
      parsed = { ok: false, reason: err instanceof CaError ? `client certificate: ${err.message}` : 'client certificate does not parse' };
    }
    if (this.#leaves.size >= REMEMBERED) this.#leaves.delete(this.#leaves.keys().next().value as string);
    this.#leaves.set(key, parsed);
    return parsed;
  }

  #issuers(): X509Certificate[] {
    const pems = this.#trust.issuers();
    const key = pems.join('');
    if (this.#parsed?.key !== key) this.#parsed = { key, certs: pems.map((p) => new X509Certificate(p)) };
    return this.#parsed.certs;
  }
}

function refused(code: 'BAD_CERT' | 'CERT_EXPIRED', reason: string): ClientCertResult {
  return { kind: 'refused', code, reason };
}
