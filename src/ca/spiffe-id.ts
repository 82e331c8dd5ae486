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

/** Whether a namespace and service account can make a SPIFFE ID (DNS names, as Kubernetes has them). */
export function isWorkloadIdentity(namespace: string, serviceAccount: string): boolean {
  return segment.test(namespace) && segment.test(serviceAccount);
}

/**
 * Istio's SPIFFE ID of a workload. Throws for a namespace or service account that is no DNS name: with a
 * `/` in it the ID would parse as another identity, and policies match `<prefix>/ns/<ns>/sa/<sa>` by suffix.
 */
export function formatSpiffeId(trustDomain: string, id: WorkloadIdentity): string {
  if (!isWorkloadIdentity(id.namespace, id.serviceAccount)) throw new Error(`not a workload identity: namespace ${JSON.stringify(id.namespace)}, service account ${JSON.stringify(id.serviceAccount)} (DNS names only)`);
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
