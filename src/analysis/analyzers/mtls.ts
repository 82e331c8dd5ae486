// Mutual TLS consistency: one mesh-wide (OR2003) and one namespace-wide (OR2004) PeerAuthentication,
// no DestinationRule sending plaintext to workloads that only accept mTLS (OR2002), and none whose
// secure-naming subjectAltNames name no workload behind its host (OR2009).
import type { DestinationRule, PeerAuthentication } from '../../config/resource.ts';
import type { PortTrafficPolicy } from '../../config/types/networking.ts';
import { effectivePolicy } from '../../translate/destination-policy.ts';
import { type EffectiveMtlsMode, effectiveMtls } from '../../translate/peer-authentication.ts';
import type { Analyzer, FieldPath, Report } from '../analyzer.ts';
import type { AnalysisContext, AnalyzedWorkload } from '../context.ts';
import { fqdn } from '../hosts.ts';
import { selects } from '../selector.ts';

/**
 * The mode a workload's inbound enforces, workload-wide: translation's effectiveMtls (Istio's
 * ComposePeerAuthentication), so a root-namespace policy with a selector applies to nothing here too.
 */
export function effectiveMtlsMode(ctx: AnalysisContext, w: AnalyzedWorkload): EffectiveMtlsMode {
  return effectiveMtls(ctx.ofKind<PeerAuthentication>('PeerAuthentication'), { namespace: w.namespace, labels: w.labels }, ctx.rootNamespace).mode;
}

function duplicates(ctx: AnalysisContext, report: Report): void {
  const groups = new Map<string, PeerAuthentication[]>();
  for (const pa of ctx.ofKind<PeerAuthentication>('PeerAuthentication')) {
    if (pa.spec.selector?.matchLabels) continue;
    groups.set(pa.metadata.namespace, [...(groups.get(pa.metadata.namespace) ?? []), pa]);
  }
  for (const [ns, list] of groups) {
    const [first, ...rest] = list;
    if (!first) continue;
    const mesh = ns === ctx.rootNamespace;
    for (const pa of rest) {
      report({
        code: mesh ? 'OR2003' : 'OR2004',
        resource: pa,
        path: ['metadata', 'name'],
        message: `${mesh ? 'Mesh-wide' : `Namespace-wide (${ns})`} PeerAuthentication ${pa.metadata.name} conflicts with ${first.metadata.name}; Istio applies only the oldest one`,
        fix: `Keep one PeerAuthentication without selector in ${ns}; use selectors or portLevelMtls for exceptions.`,
      });
    }
  }
}

function plaintextToStrict(ctx: AnalysisContext, dr: DestinationRule, report: Report): void {
  const target = ctx.lookupHost(fqdn(dr.spec.host, dr.metadata.namespace));
  if (!target) return;
  const pods = ctx.workloadsOf(target).filter((w) => w.meshed);
  const candidates: { path: FieldPath; labels: Record<string, string> | undefined; mode: string | undefined }[] = [
    { path: ['spec', 'trafficPolicy', 'tls', 'mode'], labels: undefined, mode: dr.spec.trafficPolicy?.tls?.mode },
    ...(dr.spec.subsets ?? []).map((s, i) => ({ path: ['spec', 'subsets', i, 'trafficPolicy', 'tls', 'mode'], labels: s.labels, mode: s.trafficPolicy?.tls?.mode })),
  ];
  for (const c of candidates) {
    if (c.mode !== 'DISABLE') continue;
    const strict = pods.filter((w) => selects(c.labels, w.labels) && effectiveMtlsMode(ctx, w) === 'STRICT');
    if (strict.length === 0) continue;
    report({
      code: 'OR2002',
      resource: dr,
      path: c.path,
      message: `tls.mode DISABLE sends plaintext to ${strict.map((w) => `${w.namespace}/${w.name}`).join(', ')}, whose PeerAuthentication is STRICT: every request will be refused`,
      fix: 'Use tls.mode ISTIO_MUTUAL (or remove tls to let auto-mTLS decide), or relax the PeerAuthentication to PERMISSIVE.',
    });
  }
}

/**
 * ISTIO_MUTUAL with `subjectAltNames` replaces the service's accounts in secure naming: if it names none
 * of the accounts of the meshed workloads a cluster reaches, every connection is refused. Checked on the
 * policy each cluster runs with (top level, port level, subset, subset port level, merged as translation
 * merges them), for every port of the host and every subset.
 */
function namesNoWorkload(ctx: AnalysisContext, dr: DestinationRule, report: Report): void {
  const target = ctx.lookupHost(fqdn(dr.spec.host, dr.metadata.namespace));
  if (!target) return;
  const pods = ctx.workloadsOf(target).filter((w) => w.meshed);
  if (pods.length === 0) return;
  // A Service's ports carry `port`, a ServiceEntry's `number`.
  const ports = (target.spec.ports ?? []).map((p) => ('number' in p ? p.number : p.port)).filter((p): p is number => typeof p === 'number');
  const subsets = [{ name: '', labels: undefined as Record<string, string> | undefined }, ...(dr.spec.subsets ?? []).map((s) => ({ name: s.name, labels: s.labels }))];
  const reported = new Set<string>();
  for (const port of ports.length ? ports : [0]) {
    for (const subset of subsets) {
      const tls = effectivePolicy(dr, subset.name, port).tls;
      const names = tls?.subjectAltNames;
      if (tls?.mode !== 'ISTIO_MUTUAL' || !names?.length) continue;
      const reached = pods.filter((w) => selects(subset.labels, w.labels));
      if (reached.length === 0) continue;
      const accountsIn = (td: string) => [...new Set(reached.map((w) => `spiffe://${td}/ns/${w.namespace}/sa/${w.serviceAccount}`))].sort();
      const accounts = accountsIn(ctx.trustDomain);
      if (accounts.some((a) => names.includes(a))) continue;
      const path = sansPath(dr, tls);
      const key = JSON.stringify(path);
      if (reported.has(key)) continue;
      reported.add(key);
      const where = `${subset.name ? ` in subset ${subset.name}` : ''}${port ? ` on port ${port}` : ''}`;
      // A trust-domain migration: the rule names the accounts in the old domain, kept as an alias. The
      // certificates carry it only until the CA issues in the configured domain; then every connection fails.
      const aliases = ctx.mesh.trustDomainAliases.filter((td) => accountsIn(td).some((a) => names.includes(a)));
      if (aliases.length > 0) {
        report({
          code: 'OR2009',
          resource: dr,
          path,
          message: `subjectAltNames ${names.join(', ')} name the accounts of ${reached.map((w) => `${w.namespace}/${w.name}`).join(', ')} in trust domain alias ${aliases.join(', ')}, not in the trust domain ${ctx.trustDomain}${where}: secure naming accepts them only while the CA still issues in ${aliases.join(', ')}, and refuses every connection (503 UF) once it issues in ${ctx.trustDomain}`,
          fix: `During the migration name both (${accounts.join(', ')} as well), or remove subjectAltNames: the service's own accounts are checked in every alias.`,
        });
        continue;
      }
      report({
        code: 'OR2009',
        resource: dr,
        path,
        message: `subjectAltNames ${names.join(', ')} name none of the accounts of ${reached.map((w) => `${w.namespace}/${w.name}`).join(', ')} (${accounts.join(', ')})${where}: secure naming refuses every connection (503 UF)`,
        fix: `Name the workloads' accounts (${accounts.join(', ')}), or remove subjectAltNames to check the service's own accounts.`,
      });
    }
  }
}

/** Where in the rule a policy's `tls` was written (the effective policy keeps the object itself). */
function sansPath(dr: DestinationRule, tls: NonNullable<PortTrafficPolicy['tls']>): FieldPath {
  const tp = dr.spec.trafficPolicy;
  if (tp?.tls === tls) return ['spec', 'trafficPolicy', 'tls', 'subjectAltNames'];
  const top = tp?.portLevelSettings?.findIndex((p) => p.tls === tls) ?? -1;
  if (top >= 0) return ['spec', 'trafficPolicy', 'portLevelSettings', top, 'tls', 'subjectAltNames'];
  for (const [i, s] of (dr.spec.subsets ?? []).entries()) {
    if (s.trafficPolicy?.tls === tls) return ['spec', 'subsets', i, 'trafficPolicy', 'tls', 'subjectAltNames'];
    const j = s.trafficPolicy?.portLevelSettings?.findIndex((p) => p.tls === tls) ?? -1;
    if (j >= 0) return ['spec', 'subsets', i, 'trafficPolicy', 'portLevelSettings', j, 'tls', 'subjectAltNames'];
  }
  return ['spec', 'host'];
}

export const mutualTls: Analyzer = {
  name: 'outrigger.MutualTLSAnalyzer',
  codes: ['OR2002', 'OR2003', 'OR2004', 'OR2009'],
  analyze(ctx, report) {
    duplicates(ctx, report);
    for (const dr of ctx.ofKind<DestinationRule>('DestinationRule')) {
      plaintextToStrict(ctx, dr, report);
      namesNoWorkload(ctx, dr, report);
    }
  },
};
