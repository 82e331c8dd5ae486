// HTTP rules of a VirtualService: rules after a catch-all, or whose matches all repeat earlier ones,
// never match (IST0130); a single repeated match is dead weight (IST0131); routing on JWT claims needs
// a RequestAuthentication to produce them (IST0149).
import type { RequestAuthentication, VirtualService } from '../../config/resource.ts';
import type { HTTPMatchRequest } from '../../config/types/networking.ts';
import type { Analyzer, Report } from '../analyzer.ts';
import type { AnalysisContext } from '../context.ts';
import { selects } from '../selector.ts';

/** A match's conditions as a canonical string; `name` and `statPrefix` do not change what it matches. */
function matchKey(m: HTTPMatchRequest): string {
  const { name: _name, statPrefix: _stat, ...conditions } = m;
  return JSON.stringify(conditions, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

function ruleName(vs: VirtualService, i: number): string {
  return vs.spec.http?.[i]?.name ?? `http[${i}]`;
}

function unreachable(vs: VirtualService, report: Report): void {
  const seen = new Map<string, string>();
  let catchAll: number | undefined;
  for (const [i, rule] of (vs.spec.http ?? []).entries()) {
    if (catchAll !== undefined) {
      report({
        code: 'IST0130',
        resource: vs,
        path: ['spec', 'http', i],
        message: `VirtualService rule "${ruleName(vs, i)}" not used (only the last rule can have no matches; "${ruleName(vs, catchAll)}" matches every request first)`,
        fix: 'Move the catch-all rule last, or give it match conditions.',
      });
      continue;
    }
    const matches = rule.match ?? [];
    if (matches.length === 0 || matches.some((m) => matchKey(m) === '{}')) {
      catchAll = i;
      continue;
    }
    const dupes = matches.map((m, k) => ({ k, earlier: seen.get(matchKey(m)) }));
    if (dupes.every((d) => d.earlier !== undefined)) {
      report({
        code: 'IST0130',
        resource: vs,
        path: ['spec', 'http', i, 'match'],
        message: `VirtualService rule "${ruleName(vs, i)}" not used: every match is handled by an earlier rule (${dupes.map((d) => d.earlier).join(', ')})`,
        fix: 'Remove this rule or change its match conditions.',
      });
    } else {
      for (const { k, earlier } of dupes) {
        if (earlier === undefined) continue;
        report({
          code: 'IST0131',
          resource: vs,
          path: ['spec', 'http', i, 'match', k],
          message: `VirtualService rule "${ruleName(vs, i)}" match ${k} is not used (duplicate of ${earlier})`,
          fix: 'Remove the repeated match.',
        });
      }
    }
    for (const [k, m] of matches.entries()) {
      const key = matchKey(m);
      if (!seen.has(key)) seen.set(key, `http[${i}].match[${k}]`);
    }
  }
}

function claimRoutes(ctx: AnalysisContext, vs: VirtualService, report: Report): void {
  const gateways = (vs.spec.gateways ?? []).filter((g) => g !== 'mesh').map((g) => ctx.gateway(g, vs.metadata.namespace));
  const gatewayWorkloads = gateways.flatMap((gw) => (gw ? ctx.workloads.filter((w) => w.kind === 'Gateway' && selects(gw.spec.selector, w.labels)) : []));
  const authn = ctx.ofKind<RequestAuthentication>('RequestAuthentication');
  const covered = gatewayWorkloads.some((w) =>
    authn.some(
      (ra) =>
        (ra.metadata.namespace === ctx.rootNamespace || ra.metadata.namespace === w.namespace) &&
        selects(ra.spec.selector?.matchLabels, w.labels),
    ),
  );
  if (covered) return;
  for (const [i, rule] of (vs.spec.http ?? []).entries()) {
    for (const [k, m] of (rule.match ?? []).entries()) {
      for (const header of [...Object.keys(m.headers ?? {}), ...Object.keys(m.withoutHeaders ?? {})]) {
        if (!header.startsWith('@request.auth.claims')) continue;
        const field = m.headers?.[header] !== undefined ? 'headers' : 'withoutHeaders';
        report({
          code: 'IST0149',
          resource: vs,
          path: ['spec', 'http', i, 'match', k, field, header],
          message: `This VirtualService routes on JWT claim "${header}" but no RequestAuthentication applies to its gateway`,
          fix: 'Add a RequestAuthentication selecting the gateway workload, so the claims are validated and available.',
        });
      }
    }
  }
}

export const virtualServiceRules: Analyzer = {
  name: 'schema.ValidationAnalyzer.VirtualService',
  codes: ['IST0130', 'IST0131', 'IST0149'],
  analyze(ctx, report) {
    for (const vs of ctx.ofKind<VirtualService>('VirtualService')) {
      unreachable(vs, report);
      claimRoutes(ctx, vs, report);
    }
  },
};
