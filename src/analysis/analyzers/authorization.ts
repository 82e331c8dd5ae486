// AuthorizationPolicy sources: named namespaces exist (IST0101), and the callers they name have a
// sidecar, without which they present no identity and never match (OR2007).
import type { AuthorizationPolicy } from '../../config/resource.ts';
import type { Analyzer, FieldPath, Report } from '../analyzer.ts';
import type { AnalysisContext } from '../context.ts';

function checkNamespace(ctx: AnalysisContext, ap: AuthorizationPolicy, ns: string, path: FieldPath, report: Report): void {
  if (ns.includes('*')) return;
  if (!ctx.namespaceKnown(ns)) {
    report({
      code: 'IST0101',
      resource: ap,
      path,
      message: `Referenced namespace not found: "${ns}"`,
      fix: 'Name an existing namespace, or declare it with a Namespace resource.',
    });
    return;
  }
  const callers = ctx.workloads.filter((w) => w.namespace === ns);
  if (callers.length > 0 && !callers.some((w) => w.meshed)) {
    report({
      code: 'OR2007',
      resource: ap,
      path,
      message: `Namespace "${ns}" has no workload with a sidecar: its callers present no mesh identity, so this source never matches`,
      fix: `Label namespace ${ns} istio-injection=enabled, or drop it from the rule.`,
    });
  }
}

function checkPrincipal(ctx: AnalysisContext, ap: AuthorizationPolicy, principal: string, path: FieldPath, report: Report): void {
  const m = /^(?:[^/]+)\/ns\/([^/*]+)\/sa\/([^/*]+)$/.exec(principal);
  if (!m) return;
  const [, ns = '', sa = ''] = m;
  if (!ctx.namespaceKnown(ns)) {
    report({
      code: 'IST0101',
      resource: ap,
      path,
      message: `Referenced namespace not found: "${ns}" (in principal ${principal})`,
      fix: 'Name the service account of an existing namespace: <trust-domain>/ns/<namespace>/sa/<service-account>.',
    });
    return;
  }
  const callers = ctx.workloads.filter((w) => w.namespace === ns && w.serviceAccount === sa);
  if (callers.length > 0 && !callers.some((w) => w.meshed)) {
    report({
      code: 'OR2007',
      resource: ap,
      path,
      message: `Principal ${principal} belongs to ${callers.map((w) => w.name).join(', ')}, which get no sidecar: they present no identity, so this source never matches`,
      fix: `Enable sidecar injection for the workloads running as ${ns}/${sa}.`,
    });
  }
}

export const authorizationSources: Analyzer = {
  name: 'auth.AuthorizationPoliciesAnalyzer',
  codes: ['IST0101', 'OR2007'],
  analyze(ctx, report) {
    for (const ap of ctx.ofKind<AuthorizationPolicy>('AuthorizationPolicy')) {
      for (const [i, rule] of (ap.spec.rules ?? []).entries()) {
        for (const [j, from] of (rule.from ?? []).entries()) {
          const base: FieldPath = ['spec', 'rules', i, 'from', j, 'source'];
          const src = from.source;
          for (const field of ['namespaces', 'notNamespaces'] as const) {
            for (const [k, ns] of (src[field] ?? []).entries()) {
              if (field === 'namespaces') checkNamespace(ctx, ap, ns, [...base, field, k], report);
              else if (!ns.includes('*') && !ctx.namespaceKnown(ns)) checkNamespace(ctx, ap, ns, [...base, field, k], report);
            }
          }
          for (const [k, p] of (src.principals ?? []).entries()) checkPrincipal(ctx, ap, p, [...base, 'principals', k], report);
        }
      }
    }
  },
};
