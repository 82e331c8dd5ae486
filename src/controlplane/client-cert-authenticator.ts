// Istio's ClientCertAuthenticator: the identity of a caller on the TLS xDS port that presented its
// workload certificate. The port asks for a certificate without requiring one, so the chain is checked
// here: signed by the mesh CA's current signer or a root of its trust bundle, valid by the control
// plane's clock, one Istio SPIFFE ID in the mesh's trust domain (or an alias). Anything else proves nothing.
import { X509Certificate } from 'node:crypto';
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
  /** The CA's signing chain and every root of its trust bundle, PEM: a leaf must be signed by one. */
  issuers(): readonly string[];
  /** The trust domains whose identities this mesh accepts: the CA's first, then its aliases. */
  trustDomains(): readonly string[];
  now(): number;
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** Verifies the presented leaf of one call; `none` when it presented none. */
export class ClientCertAuthenticator {
  #trust: ClientCertTrust;
  /** The issuers parsed once per bundle, not per call. */
  #parsed: { key: string; certs: X509Certificate[] } | undefined;

  constructor(trust: ClientCertTrust) {
    this.#trust = trust;
  }

  authenticate(context: PeerAuthContext | null | undefined): ClientCertResult {
    const raw = context?.sslPeerCertificate?.raw;
    if (!raw || raw.length === 0) return { kind: 'none' };
    let leaf: X509Certificate;
    let spiffeId: string;
    try {
      leaf = new X509Certificate(raw);
      spiffeId = spiffeIdOf(raw);
    } catch (err) {
      return refused('BAD_CERT', err instanceof CaError ? `client certificate: ${err.message}` : 'client certificate does not parse');
    }
    const now = this.#trust.now();
    const issuer = this.#issuers().find((c) => leaf.checkIssued(c) && leaf.verify(c.publicKey));
    if (!issuer) return refused('BAD_CERT', `client certificate ${spiffeId} is not signed by the mesh CA`);
    const notBefore = Date.parse(leaf.validFrom);
    const notAfter = Date.parse(leaf.validTo);
    if (now < notBefore) return refused('BAD_CERT', `client certificate ${spiffeId} is not valid before ${new Date(notBefore).toISOString()}`);
    if (now >= notAfter) return refused('CERT_EXPIRED', `client certificate ${spiffeId} expired at ${new Date(notAfter).toISOString()}`);
    if (now < Date.parse(issuer.validFrom) || now > Date.parse(issuer.validTo)) return refused('BAD_CERT', `client certificate ${spiffeId}: its issuer is not valid now`);
    if (leaf.keyUsage !== undefined && !leaf.keyUsage.includes(CLIENT_AUTH)) return refused('BAD_CERT', `client certificate ${spiffeId} is not for client authentication`);
    const id = parseSpiffeId(spiffeId);
    if (!id) return refused('BAD_CERT', `client certificate ${spiffeId} is no workload identity (spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT)`);
    if (!this.#trust.trustDomains().includes(id.trustDomain)) return refused('BAD_CERT', `client certificate ${spiffeId} is not in the mesh's trust domain`);
    return { kind: 'verified', identity: { namespace: id.namespace, serviceAccount: id.serviceAccount }, spiffeId, expiresAtMs: notAfter };
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
