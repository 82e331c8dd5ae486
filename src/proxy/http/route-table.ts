// The router's view of a compiled RouteConfiguration: `match(request)` → the route to take, or null.
// This is a minimal built-in (domains, prefix/path/safe-regex-free matching, cluster or weighted
// clusters, redirect, direct response); the full route library plugs in behind the same interface.
import type { TypedAny } from '../../xds/any.ts';
import { durationMs } from '../../xds/duration.ts';
import { ProxyConfigError } from '../config/config-error.ts';
import { compileWeightedPick } from '../cluster/weighted-pick.ts';
import type { RouteView } from './filter.ts';
import type { DownstreamRequest } from './stream.ts';

export type RouteAction =
  | {
      readonly type: 'forward';
      /** Picks the cluster for this request (weighted clusters pick with the injected random). */
      pickCluster(random: number): string;
      readonly timeoutMs: number;
      readonly prefixRewrite?: { prefix: string; replacement: string };
      readonly hostRewrite?: string;
      readonly retries: number;
    }
  | { readonly type: 'redirect'; readonly status: number; location(req: DownstreamRequest): string }
  | { readonly type: 'direct'; readonly status: number; readonly body: string };

export interface MatchedRoute extends RouteView {
  readonly virtualHost: string;
  readonly action: RouteAction;
}

export interface RouteTable {
  readonly name: string;
  match(request: DownstreamRequest): MatchedRoute | null;
}

interface EnvoyRouteLite {
  name?: string;
  match?: { prefix?: string; path?: string; safe_regex?: unknown; headers?: unknown[] };
  route?: {
    cluster?: string;
    weighted_clusters?: { clusters?: { name?: string; weight?: { value?: number } | number }[] };
    timeout?: { seconds?: string; nanos?: number };
    prefix_rewrite?: string;
    host_rewrite_literal?: string;
    retry_policy?: { num_retries?: { value?: number } };
  };
  redirect?: { host_redirect?: string; path_redirect?: string; response_code?: string; scheme_redirect?: string };
  direct_response?: { status?: number; body?: { inline_string?: string } };
  typed_per_filter_config?: Record<string, TypedAny>;
}

interface VirtualHostLite {
  name?: string;
  domains?: string[];
  routes?: EnvoyRouteLite[];
}

type PerRouteCompiler = (filterName: string, config: TypedAny) => unknown;

function compileAction(r: EnvoyRouteLite, where: string): RouteAction {
  if (r.direct_response) return { type: 'direct', status: r.direct_response.status ?? 200, body: r.direct_response.body?.inline_string ?? '' };
  if (r.redirect) {
    const rd = r.redirect;
    const status = { FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 }[rd.response_code ?? ''] ?? 301;
    return {
      type: 'redirect',
      status,
      location: (req) => `${rd.scheme_redirect ?? req.scheme}://${rd.host_redirect ?? req.authority}${rd.path_redirect ?? req.path}`,
    };
  }
  const ra = r.route;
  if (!ra) throw new ProxyConfigError(where, 'action', 'route, redirect or direct_response is required');
  let pickCluster: (random: number) => string;
  if (ra.cluster) {
    const name = ra.cluster;
    pickCluster = () => name;
  } else if (ra.weighted_clusters?.clusters?.length) {
    const list = ra.weighted_clusters.clusters.map((c) => ({ name: c.name ?? '', weight: typeof c.weight === 'number' ? c.weight : (c.weight?.value ?? 0) }));
    pickCluster = compileWeightedPick(list);
  } else throw new ProxyConfigError(where, 'route', 'cluster or weighted_clusters is required');
  const prefix = r.match?.prefix;
  return {
    type: 'forward',
    pickCluster,
    timeoutMs: ra.timeout ? durationMs(ra.timeout) : 15_000,
    ...(ra.prefix_rewrite !== undefined && prefix !== undefined ? { prefixRewrite: { prefix, replacement: ra.prefix_rewrite } } : {}),
    ...(ra.host_rewrite_literal ? { hostRewrite: ra.host_rewrite_literal } : {}),
    retries: ra.retry_policy?.num_retries?.value ?? 0,
  };
}

export function compileRouteTable(resource: object, perRoute?: PerRouteCompiler): RouteTable {
  const rc = resource as { name?: string; virtual_hosts?: VirtualHostLite[] };
  const rcName = rc.name ?? '';
  const hosts = (rc.virtual_hosts ?? []).map((vh, i) => {
    const vhWhere = `RouteConfiguration ${rcName} virtual_hosts[${i}]`;
    const routes = (vh.routes ?? []).map((r, j) => {
      const where = `${vhWhere}.routes[${j}]`;
      if (r.match?.safe_regex || r.match?.headers?.length) throw new ProxyConfigError(where, 'match', 'regex and header matches need the route library');
      const path = r.match?.path;
      const prefix = r.match?.prefix ?? '';
      const perFilter = new Map<string, unknown>();
      for (const [fname, cfg] of Object.entries(r.typed_per_filter_config ?? {})) perFilter.set(fname, perRoute ? perRoute(fname, cfg) : cfg);
      const matched: MatchedRoute = {
        name: r.name ?? '',
        virtualHost: vh.name ?? '',
        action: compileAction(r, where),
        perFilterConfig: (f) => perFilter.get(f),
      };
      return { test: path !== undefined ? (p: string) => p === path : (p: string) => p.startsWith(prefix), matched };
    });
    return { domains: (vh.domains ?? []).map((d) => d.toLowerCase()), routes };
  });
  // Envoy's virtual host choice: exact domain, then the longest wildcard suffix, then `*`.
  type Vh = (typeof hosts)[number];
  const exact = new Map<string, Vh>();
  const suffixes: { suffix: string; vh: Vh }[] = [];
  let fallback: Vh | undefined;
  for (const vh of hosts) {
    for (const d of vh.domains) {
      if (d === '*') fallback ??= vh;
      else if (d.startsWith('*')) suffixes.push({ suffix: d.slice(1), vh });
      else if (!exact.has(d)) exact.set(d, vh);
    }
  }
  suffixes.sort((a, b) => b.suffix.length - a.suffix.length);
  return {
    name: rcName,
    match(req) {
      const authority = req.authority;
      const colon = authority.lastIndexOf(':');
      const host = colon > 0 && !authority.endsWith(']') ? authority.slice(0, colon) : authority;
      const vh = exact.get(authority) ?? exact.get(host) ?? suffixes.find((s) => host.endsWith(s.suffix))?.vh ?? fallback;
      if (!vh) return null;
      for (const r of vh.routes) if (r.test(req.path)) return r.matched;
      return null;
    },
  };
}
