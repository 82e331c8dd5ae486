// meshConfig.trustDomainAliases, as Istio applies them (pilot/pkg/security/trustdomain): the trust
// domain and its aliases name one mesh, so an identity in any of them is the same workload.
// - AuthorizationPolicy `principals` / `notPrincipals` / `source.principal`: a principal whose trust
//   domain is the mesh's, an alias, or `cluster.local` (a pointer to the mesh's trust domain in
//   policies) matches in every domain of the bundle;
// (Secure naming lists a service's accounts in every domain of the bundle: service-accounts.ts.)

/** Istio's authorization form `<td>/ns/<ns>/sa/<sa>`: the trust domain, or undefined if not of that shape. */
function trustDomainOf(principal: string): string | undefined {
  const parts = principal.split('/');
  return parts.length === 5 ? parts[0] : undefined;
}

const prefixMatch = (a: string, pattern: string) => pattern.endsWith('*') && a.startsWith(pattern.slice(0, -1));
const suffixMatch = (a: string, pattern: string) => pattern.startsWith('*') && a.endsWith(pattern.slice(1));

/** Either side may be the pattern (`*-td`, `td-*`), as Istio's trustdomain.stringMatch. */
function domainMatches(a: string, domains: readonly string[]): boolean {
  return domains.some((s) => a === s || s === '*' || prefixMatch(a, s) || prefixMatch(s, a) || suffixMatch(a, s) || suffixMatch(s, a));
}

/**
 * Each principal in every domain of `bundle` (the mesh's trust domain first, then its aliases) when
 * its own domain is one of them or `cluster.local`; other principals, and those with `*` for a trust
 * domain, as they are.
 * Istio's `Bundle.ReplaceTrustDomainAliases`, order and de-duplication included.
 */
export function principalsWithAliases(principals: readonly string[], bundle: readonly string[]): string[] {
  const out: string[] = [];
  for (const principal of principals) {
    const td = trustDomainOf(principal);
    if (td === undefined || td === '*' || !(domainMatches(td, bundle) || td === 'cluster.local')) {
      out.push(principal);
      continue;
    }
    const expanded: string[] = [];
    for (const domain of bundle) {
      // A wildcard domain that already covers this one stays as written.
      const next = suffixMatch(domain, td) ? principal : `${domain}/${principal.split('/').slice(1).join('/')}`;
      if (!expanded.includes(next)) expanded.push(next);
    }
    out.push(...expanded);
  }
  return out;
}
