// DestinationRules against the registry: the host exists (IST0174), each subset selects pods
// (IST0173), one rule per host and namespace (OR2001), TLS origination verifies the server (IST0128/0129).
import type { DestinationRule } from '../../config/resource.ts';
import type { ClientTLSSettings } from '../../config/types/networking.ts';
import type { Analyzer, FieldPath, Report } from '../analyzer.ts';
import type { AnalysisContext } from '../context.ts';
import { fqdn, hostMatches } from '../hosts.ts';
import { selects } from '../selector.ts';

function hostAndSubsets(ctx: AnalysisContext, dr: DestinationRule, report: Report): void {
  const host = fqdn(dr.spec.host, dr.metadata.namespace);
  // Istio looks the host up as it is visible from the rule's namespace and exportTo (subset.go,
  // util.GetDestinationHost). Unlike Istio, a wildcard host covering a Service (`*.local`) is known.
  const target =
    ctx.destinationHost(dr.metadata.namespace, dr.spec.exportTo, dr.spec.host) ??
    (host.startsWith('*') && [...ctx.services.keys()].some((h) => hostMatches(host, h)));
  if (!target) {
    report({
      code: 'IST0174',
      resource: dr,
      path: ['spec', 'host'],
      message: `The host ${dr.spec.host} defined in the DestinationRule does not match any services in the mesh.`,
      fix: 'Name an existing Service or ServiceEntry host (exported to this namespace), or delete this DestinationRule.',
    });
    return;
  }
  if (target === true || (target.kind === 'ServiceEntry' && !target.spec.workloadSelector)) return;
  const pods = ctx.workloadsOf(target);
  for (const [i, subset] of (dr.spec.subsets ?? []).entries()) {
    if (pods.some((w) => selects(subset.labels, w.labels))) continue;
    report({
      code: 'IST0173',
      resource: dr,
      path: ['spec', 'subsets', i, 'name'],
      message: `The Subset ${subset.name} defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream).`,
      fix: `Label the pods behind ${host} with ${JSON.stringify(subset.labels ?? {})}, or fix the subset labels.`,
    });
  }
}

/**
 * As Istio's CaCertificateAnalyzer: only caCertificates, or a credentialName on a rule with a
 * workloadSelector, silences it; insecureSkipVerify does not.
 */
function tlsVerification(dr: DestinationRule, report: Report): void {
  const name = `${dr.metadata.namespace}/${dr.metadata.name}`;
  const check = (tls: ClientTLSSettings | undefined, path: FieldPath, code: 'IST0128' | 'IST0129', at: string) => {
    if (!tls || (tls.mode !== 'SIMPLE' && tls.mode !== 'MUTUAL')) return;
    if (tls.caCertificates || (tls.credentialName && dr.spec.workloadSelector)) return;
    report({
      code,
      resource: dr,
      path: [...path, 'mode'],
      message: `DestinationRule ${name} in namespace ${dr.metadata.namespace} has TLS mode set to ${tls.mode} but no caCertificates are set to validate server identity for host: ${dr.spec.host}${at}`,
      fix: "Set caCertificates to the CA that signs the server (without it, Outrigger trusts the platform's public roots; a credentialName's ca.crt counts only as Istio counts it, with a workloadSelector).",
    });
  };
  const tp = dr.spec.trafficPolicy;
  check(tp?.tls, ['spec', 'trafficPolicy', 'tls'], 'IST0128', '');
  for (const [i, pl] of (tp?.portLevelSettings ?? []).entries()) {
    // Istio prints the port selector in protobuf text form.
    check(pl.tls, ['spec', 'trafficPolicy', 'portLevelSettings', i, 'tls'], 'IST0129', ` at port ${pl.port?.number ? `number:${pl.port.number}` : ''}`);
  }
}

function conflicts(ctx: AnalysisContext, report: Report): void {
  const groups = new Map<string, DestinationRule[]>();
  for (const dr of ctx.ofKind<DestinationRule>('DestinationRule')) {
    if (dr.spec.workloadSelector) continue;
    const key = `${dr.metadata.namespace} ${fqdn(dr.spec.host, dr.metadata.namespace)}`;
    groups.set(key, [...(groups.get(key) ?? []), dr]);
  }
  for (const list of groups.values()) {
    const [first, ...rest] = list;
    if (!first) continue;
    for (const dr of rest) {
      report({
        code: 'OR2001',
        resource: dr,
        path: ['spec', 'host'],
        message: `DestinationRules ${first.metadata.name} and ${dr.metadata.name} both configure ${dr.spec.host} in ${dr.metadata.namespace}; Istio merges them, keeping only the first trafficPolicy and the first subset of each name`,
        fix: 'Put the subsets and the traffic policy for this host into one DestinationRule.',
      });
    }
  }
}

export const destinationRules: Analyzer = {
  name: 'destinationrule.SubsetSelectPodAnalyzer',
  codes: ['IST0173', 'IST0174', 'IST0128', 'IST0129', 'OR2001'],
  analyze(ctx, report) {
    for (const dr of ctx.ofKind<DestinationRule>('DestinationRule')) {
      hostAndSubsets(ctx, dr, report);
      tlsVerification(dr, report);
    }
    conflicts(ctx, report);
  },
};
