// SPIFFE IDs of workloads, `spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>` (Istio's form).

export interface WorkloadIdentity {
  namespace: string;
  serviceAccount: string;
}

export interface SpiffeIdentity extends WorkloadIdentity {
  trustDomain: string;
}

// DNS-label-ish names only: a namespace or service account with `/`, `%` or NUL must never
// produce an ID that parses back to another identity.
const segment = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const trustDomainPattern = /^[a-z0-9]([-a-z0-9._]{0,253}[a-z0-9])?$/;

/** A trust domain SPIFFE IDs can be made in: lower-case letters, digits, `.`, `-` and `_`. */
export function isTrustDomain(td: string): boolean {
  return trustDomainPattern.test(td);
}

export function formatSpiffeId(trustDomain: string, id: WorkloadIdentity): string {
  return `spiffe://${trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** Parses Istio's workload form; null for anything else (other paths, bad characters, NUL). */
export function parseSpiffeId(uri: string): SpiffeIdentity | null {
  if (!uri.startsWith('spiffe://')) return null;
  const parts = uri.slice('spiffe://'.length).split('/');
  if (parts.length !== 5 || parts[1] !== 'ns' || parts[3] !== 'sa') return null;
  const [trustDomain, , namespace, , serviceAccount] = parts as [string, string, string, string, string];
  if (!trustDomainPattern.test(trustDomain) || !segment.test(namespace) || !segment.test(serviceAccount)) return null;
  return { trustDomain, namespace, serviceAccount };
}

/** Any well-formed SPIFFE ID (`spiffe://td/path`), per the SPIFFE ID spec's character rules. */
export function isSpiffeId(uri: string): boolean {
  const m = /^spiffe:\/\/([a-z0-9._-]+)(\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$/.exec(uri);
  return m !== null && !uri.includes('//', 9) && !uri.endsWith('/');
}
