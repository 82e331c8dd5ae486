// Rules of a VirtualService (HTTP, TCP, TLS): rules after a catch-all, or whose matches all repeat
// earlier ones, never match (IST0130); a repeated match, or a uri prefix an earlier one covers, is dead
// weight (IST0131); routing on JWT claims needs a RequestAuthentication to produce them (IST0149).
import type { RequestAuthentication, VirtualService } from '../../config/resource.ts';
import type { HTTPMatchRequest, StringMatch } from '../../config/types/networking.ts';
import type { Analyzer, Report } from '../analyzer.ts';
import type { AnalysisContext } from '../context.ts';
import { selects } from '../selector.ts';

/**
 * A match as Istio compares matches (asJSON): every field but an HTTP match's `name`, with unset and
 * zero values left out as Go's JSON encoding leaves them out.
 */
function matchKey(m: object): string {
  const { name: _name, ...conditions } = m as { name?: string };
  return JSON.stringify(conditions, (_k, v: unknown) => {
    if (v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0)) return undefined;
    return v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v;
  });
}

type Section = 'http' | 'tcp' | 'tls';

/** Istio's names in IST0130/IST0131 (routeName, requestName): a quoted name (HTTP only), else `#n`. */
const numbered = (name: string | undefined, n: number): string => (name ? `"${name}"` : `#${n}`);

interface PrefixMatch {
  rule: number;
  match: number;
  routeStr: string;
  matchStr: string;
  prefix: string;
  port: number;
  method: string;
  authority: string;
  headers: Map<string, string>;
  queryParams: Map<string, string>;
  withoutHeaders: Map<string, string>;
}

const exactOrPrefix = (s: StringMatch | undefined): string => (s?.exact ? `exact:${s.exact}` : s?.prefix ? `prefix:${s.prefix}` : '');
const exactOrPrefixes = (m: Record<string, StringMatch> | undefined) => new Map(Object.entries(m ?? {}).map(([k, v]) => [k, exactOrPrefix(v)]));

/** A match with a uri prefix, in the terms coveredValidation compares (genMatchHTTPRoutes). */
function prefixMatch(m: HTTPMatchRequest, rule: number, match: number, routeStr: string): PrefixMatch | undefined {
  if (!m.uri?.prefix) return undefined;
  return {
    rule,
    match,
    routeStr,
    matchStr: numbered(m.name, match),
    prefix: m.uri.prefix,
    port: m.port ?? 0,
    method: exactOrPrefix(m.method) || 'exact:GET',
    authority: exactOrPrefix(m.authority),
    headers: exactOrPrefixes(m.headers),
    queryParams: exactOrPrefixes(m.queryParams),
    withoutHeaders: exactOrPrefixes(m.withoutHeaders),
  };
}

/** Whether the earlier match `a` takes every request the later `b` would (coveredValidation, as written there). */
function covers(a: PrefixMatch, b: PrefixMatch): boolean {
  const within = (x: string, y: string) => x === y || x.startsWith(y);
  const mapWithin = (x: Map<string, string>, y: Map<string, string>) =>
    x.size === y.size && [...x].every(([k, v]) => y.has(k) && within(v, y.get(k) ?? ''));
  return (
    b.prefix.startsWith(a.prefix) &&
    a.port === b.port &&
    within(a.method, b.method) &&
    within(a.authority, b.authority) &&
    mapWithin(a.headers, b.headers) &&
    mapWithin(a.queryParams, b.queryParams) &&
    mapWithin(a.withoutHeaders, b.withoutHeaders)
  );
}

/**
 * IST0130/IST0131 as Istio's validation reports them (analyzeUnreachableHTTPRules, TCPRules, TLSRules):
 * a rule after one without matches, a second rule without matches, a rule whose every match an
 * earlier rule has; each repeated match; and (HTTP) a uri prefix an earlier prefix match covers.
 */
function unreachable(vs: VirtualService, section: Section, report: Report): void {
  const rules: readonly { name?: string; match?: readonly object[] }[] = vs.spec[section] ?? [];
  const seen = new Map<string, number>();
  const prefixes: PrefixMatch[] = [];
  let catchAll = false;
  const routeName = (i: number) => numbered(section === 'http' ? rules[i]?.name : undefined, i);
  const unused = (i: number, reason: string) =>
    report({
      code: 'IST0130',
      resource: vs,
      path: ['spec', section, i],
      message: `VirtualService rule ${routeName(i)} not used (${reason}).`,
      fix: reason === 'all matches used by prior rules' ? 'Remove this rule or change its match conditions.' : 'Keep one rule without matches, and put it last.',
    });
  const ineffective = (i: number, k: number, matchStr: string, dupStr: string) =>
    report({
      code: 'IST0131',
      resource: vs,
      path: ['spec', section, i, 'match', k],
      message: `VirtualService rule ${routeName(i)} match ${matchStr} is not used (duplicate/overlapping match in rule ${dupStr}).`,
      fix: 'Remove this match, or move it before the match that takes its requests.',
    });
  for (const [i, rule] of rules.entries()) {
    const matches = rule.match ?? [];
    if (matches.length === 0) {
      if (catchAll) unused(i, 'only the last rule can have no matches');
      catchAll = true;
      continue;
    }
    if (catchAll) {
      // Istio says it once per match; istioctl prints the identical lines once.
      unused(i, 'route without matches defined before');
      continue;
    }
    let duplicates = 0;
    for (const [k, m] of matches.entries()) {
      const key = matchKey(m);
      const earlier = seen.get(key);
      if (earlier !== undefined) {
        ineffective(i, k, numbered(section === 'http' ? (m as HTTPMatchRequest).name : undefined, k), routeName(earlier));
        duplicates++;
        continue;
      }
      seen.set(key, i);
      const p = section === 'http' ? prefixMatch(m as HTTPMatchRequest, i, k, routeName(i)) : undefined;
      if (p) prefixes.push(p);
    }
    if (duplicates === matches.length) unused(i, 'all matches used by prior rules');
  }
  for (const [n, a] of prefixes.entries()) {
    for (const b of prefixes.slice(n + 1)) {
      if (b.prefix === a.prefix || !covers(a, b)) continue;
      ineffective(b.rule, b.match, `${b.matchStr} of prefix ${b.prefix}`, `${a.matchStr} of prefix ${a.prefix} on ${a.routeStr}`);
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
      for (const section of ['http', 'tcp', 'tls'] as const) unreachable(vs, section, report);
      claimRoutes(ctx, vs, report);
    }
  },
};
