// AuthorizationPolicy sources: named namespaces, wildcards included, match a namespace (IST0101,
// Istio's analyzeNamespaceNotFound), and the callers they name have a sidecar, without which they
// present no identity and never match (OR2007).
import type { AuthorizationPolicy } from '../../config/resource.ts';
import type { Analyzer, FieldPath, Report } from '../analyzer.ts';
import type { AnalysisContext } from '../context.ts';

/** Istio's namespaceMatch: `*`, a `*suffix`, a `prefix*`, or a name compared ignoring case. */
function namespaceMatch(ns: string, exp: string): boolean {
  if (exp === '*') return true;
  if (exp.startsWith('*')) return ns.endsWith(exp.slice(1));
  if (exp.endsWith('*')) return ns.startsWith(exp.slice(0, -1));
  return ns.toLowerCase() === exp.toLowerCase();
}

function knownNamespaces(ctx: AnalysisContext): string[] {
  return [...new Set([...ctx.namespaces.keys(), ...ctx.resources.map((r) => r.metadata.namespace).filter((n) => n)])];
}

function checkNamespace(ctx: AnalysisContext, ap: AuthorizationPolicy, ns: string, path: FieldPath, report: Report): void {
  if (!ctx.namespaceKnown(ns) && !knownNamespaces(ctx).some((n) => namespaceMatch(n, ns))) {
    report({
      code: 'IST0101',
      resource: ap,
      path,
      message: `Referenced namespace not found: "${ns}"`,
      fix: 'Name an existing namespace, or declare it with a Namespace resource.',
    });
    return;
  }
  if (ns.includes('*')) return;
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
  // Istio checks the namespaces of sources only, not those inside principals (analyzeNamespaceNotFound).
  const [, ns = '', sa = ''] = m;
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
              else if (!ctx.namespaceKnown(ns)) checkNamespace(ctx, ap, ns, [...base, field, k], report);
            }
          }
          for (const [k, p] of (src.principals ?? []).entries()) checkPrincipal(ctx, ap, p, [...base, 'principals', k], report);
        }
      }
    }
  },
};
