// Which Envoy stats a proxy keeps: Istio's `ProxyConfig.proxyStatsMatcher`, compiled once per proxy into
// Envoy's `stats_config.stats_matcher.inclusion_list`, Istio's own inclusions first. A stat it does not
// include is never made (the proxy hands out a null stat), so it costs neither memory nor scrape bytes.
import { RE2JS } from 're2js';

/** ProxyConfig.proxyStatsMatcher as Istio spells it (mesh defaultConfig, `proxy.istio.io/config`, pod annotations). */
export interface ProxyStatsMatcher {
  readonly inclusionPrefixes?: readonly string[];
  readonly inclusionSuffixes?: readonly string[];
  readonly inclusionRegexps?: readonly string[];
}

/**
 * What Istio's bootstrap always includes besides the user's (pkg/bootstrap/config.go
 * `requiredEnvoyStatsMatcherInclusionPrefixes`, `rbacEnvoyStatsMatcherInclusionSuffix`, and the
 * template's own `reporter=`, `component`, `istio` prefixes). `reporter=` is where Envoy keeps Istio's
 * `istio_*` metrics; Outrigger keeps those apart from Envoy's stats, so the matcher never sees them.
 */
export const istioStatsInclusions = {
  prefixes: ['reporter=', 'cluster_manager', 'listener_manager', 'server', 'cluster.xds-grpc', 'wasm', 'component', 'istio'],
  suffixes: ['rbac.allowed', 'rbac.denied', 'shadow_allowed', 'shadow_denied'],
} as const;

/** A pattern that cannot be compiled; `field` names it (`inclusionRegexps[1]`). */
export class StatsMatcherError extends Error {
  readonly code = 'STATS_MATCHER_INVALID';
  readonly field: string;
  constructor(field: string, message: string, cause?: unknown) {
    super(`proxyStatsMatcher.${field}: ${message}`, cause === undefined ? undefined : { cause });
    this.field = field;
  }
}

/** One compiled `safe_regex`: whether it matches a whole stat name. */
interface NameRegex {
  readonly pattern: string;
  test(name: string): boolean;
}

/** `.*literal.*`, `literal.*`, `.*literal`, `literal` (metacharacters escaped): Istio's usual patterns. */
const LITERAL = /^(\.\*)?((?:[^\\.+*?()|[\]{}^$]|\\[^A-Za-z0-9])*)(\.\*)?$/;

/**
 * A pattern compiled once: a literal pattern as string tests (RE2's `.` matches all but a newline, so a
 * name with one never matches `.*`), anything else by RE2 (re2js), as Envoy's RE2 full match.
 */
function compileNameRegex(pattern: string): NameRegex {
  // Compiled whatever its form: RE2 is the judge of what is valid.
  const re = RE2JS.compile(pattern);
  const lit = LITERAL.exec(pattern);
  if (lit) {
    const text = (lit[2] ?? '').replace(/\\(.)/g, '$1');
    const lead = lit[1] !== undefined;
    const trail = lit[3] !== undefined;
    const test = lead && trail ? (n: string) => n.includes(text) : lead ? (n: string) => n.endsWith(text) : trail ? (n: string) => n.startsWith(text) : (n: string) => n === text;
    return { pattern, test: lead || trail ? (n) => test(n) && !n.includes('\n') : test };
  }
  return { pattern, test: (n) => re.matches(n) };
}

/** Envoy's inclusion list: a stat is kept when any prefix, suffix or (whole-name, RE2) regex matches its name. */
export class StatsMatcher {
  readonly #prefixes: readonly string[];
  readonly #suffixes: readonly string[];
  readonly #regexps: readonly NameRegex[];

  constructor(prefixes: readonly string[], suffixes: readonly string[], regexps: readonly NameRegex[]) {
    this.#prefixes = prefixes;
    this.#suffixes = suffixes;
    this.#regexps = regexps;
  }

  /** Whether the stat of this Envoy name (`cluster.NAME.upstream_rq_total`) is kept. */
  includes(statName: string): boolean {
    return this.includesJoined(statName, '');
  }

  /**
   * Whether the stat named `head + tail` (`cluster.NAME.` and `upstream_rq_total`) is kept; the two are
   * joined only when a regex must read the whole name, so a cluster's 34 stats cost no strings.
   */
  includesJoined(head: string, tail: string): boolean {
    for (const p of this.#prefixes) {
      if (p.length <= head.length ? head.startsWith(p) : p.startsWith(head) && tail.startsWith(p.slice(head.length))) return true;
    }
    for (const s of this.#suffixes) {
      if (s.length <= tail.length ? tail.endsWith(s) : s.endsWith(tail) && head.endsWith(s.slice(0, s.length - tail.length))) return true;
    }
    if (this.#regexps.length === 0) return false;
    const name = head + tail;
    for (const r of this.#regexps) if (r.test(name)) return true;
    return false;
  }

  toString(): string {
    const parts = [...this.#prefixes.map((p) => `prefix ${p}`), ...this.#suffixes.map((s) => `suffix ${s}`), ...this.#regexps.map((r) => `safe_regex ${r.pattern}`)];
    return `inclusion_list(${parts.join(', ')})`;
  }
}

/** Istio's inclusions plus the user's, each list without repeats; throws StatsMatcherError naming a bad pattern. */
export function compileStatsMatcher(user: ProxyStatsMatcher): StatsMatcher {
  const lists = { inclusionPrefixes: user.inclusionPrefixes ?? [], inclusionSuffixes: user.inclusionSuffixes ?? [], inclusionRegexps: user.inclusionRegexps ?? [] };
  for (const [field, list] of Object.entries(lists)) {
    // Envoy's StringMatcher refuses an empty prefix, suffix or regex: its bootstrap would not load.
    list.forEach((p, i) => {
      if (typeof p !== 'string' || p === '') throw new StatsMatcherError(`${field}[${i}]`, 'must be a non-empty string');
    });
  }
  const regexps = lists.inclusionRegexps.map((pattern, i) => {
    try {
      return compileNameRegex(pattern);
    } catch (err) {
      throw new StatsMatcherError(`inclusionRegexps[${i}]`, `"${pattern}" is not an RE2 regex (${err instanceof Error ? err.message : String(err)})`, err);
    }
  });
  const unique = (xs: readonly string[]) => [...new Set(xs)];
  return new StatsMatcher(unique([...istioStatsInclusions.prefixes, ...lists.inclusionPrefixes]), unique([...istioStatsInclusions.suffixes, ...lists.inclusionSuffixes]), regexps);
}
