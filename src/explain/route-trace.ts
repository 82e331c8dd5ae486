// Routing explained with the route library itself: the virtual host the proxy selects, the route its
// matcher picks, and for every earlier route the first of its conditions that the request failed.
import type { ClusterChoice, EnvoyRoute, EnvoyRouteConfiguration, EnvoyRouteMatch, MatchedRoute, RouteTable } from '../proxy/http/route/index.ts';
import { compileHeaderMatchers, headerValue, RouteMatcher } from '../proxy/http/route/index.ts';
import type { DownstreamRequest } from '../proxy/http/stream.ts';
import type { RouteMiss, RouteTrace } from './trace.ts';

export interface RouteDecision {
  trace: RouteTrace;
  route: MatchedRoute | null;
  choice: ClusterChoice | null;
  /** Why nothing was routed, when nothing was. */
  miss?: 'no_virtual_host' | 'no_route';
}

const pathKeys = ['prefix', 'path', 'safe_regex', 'path_separated_prefix'] as const;

/** The first condition of a route match the request fails, in the order the proxy checks them. */
export function firstFailure(m: EnvoyRouteMatch, request: DownstreamRequest, draw: number): string | undefined {
  const spec: EnvoyRouteMatch = {};
  for (const k of pathKeys) if (m[k] !== undefined) Object.assign(spec, { [k]: m[k] });
  if (m.case_sensitive) spec.case_sensitive = m.case_sensitive;
  const path = new RouteMatcher(spec, 'explain');
  if (!path.match(request, draw)) return `path ${path} does not match "${request.path}"`;
  for (const h of compileHeaderMatchers(m.headers, 'explain.headers')) {
    if (h.match(request)) continue;
    const actual = headerValue(request.headers, h.name);
    return `${h} failed: ${actual === undefined ? `no ${h.name} header` : `${h.name} is "${actual}"`}`;
  }
  for (const q of m.query_parameters ?? []) {
    if (!new RouteMatcher({ prefix: '', query_parameters: [q] }, 'explain').match(request, draw)) return `query parameter ${q.name ?? ''} did not match (query "${request.query}")`;
  }
  if (m.grpc !== undefined && !new RouteMatcher({ prefix: '', grpc: m.grpc }, 'explain').match(request, draw)) return 'not a gRPC request (content-type is not application/grpc)';
  if (m.runtime_fraction && !new RouteMatcher({ prefix: '', runtime_fraction: m.runtime_fraction }, 'explain').match(request, draw)) {
    return 'runtime fraction not drawn for this request';
  }
  return undefined;
}

/** Istio emits one Envoy route per HTTPMatchRequest, all with the rule's name: number the repeats. */
function routeName(routes: readonly MatchedRoute[], i: number): string {
  const r = routes[i] as MatchedRoute;
  if (!r.name) return `#${i}`;
  let seen = 0;
  for (let j = 0; j < i; j++) if (routes[j]?.name === r.name) seen++;
  return seen === 0 ? r.name : `${r.name} (match ${seen + 1})`;
}

export function traceRoute(table: RouteTable, raw: EnvoyRouteConfiguration | undefined, request: DownstreamRequest, draw: () => number): RouteDecision {
  const trace: RouteTrace = { routeConfiguration: table.name, skipped: [], clusters: [] };
  const vh = table.selectVirtualHost(request.authority);
  if (!vh) return { trace, route: null, choice: null, miss: 'no_virtual_host' };
  trace.virtualHost = vh.name;
  const rawVh = raw?.virtual_hosts?.find((v) => v.name === vh.name);
  if (vh.tlsRedirect !== null && request.scheme === 'http') {
    trace.route = 'require_tls';
    trace.kind = 'redirect';
    return { trace, route: vh.tlsRedirect, choice: null };
  }
  const matchDraw = draw();
  let matched: MatchedRoute | null = null;
  let rawRoute: EnvoyRoute | undefined;
  for (const [i, r] of vh.routes.entries()) {
    if (r.matcher.match(request, matchDraw)) {
      matched = r;
      rawRoute = rawVh?.routes?.[i];
      break;
    }
    const m = rawVh?.routes?.[i]?.match;
    const miss: RouteMiss = { route: routeName(vh.routes, i), failed: (m && firstFailure(m, request, matchDraw)) ?? `${r.matcher} did not match` };
    trace.skipped.push(miss);
  }
  if (!matched) return { trace, route: null, choice: null, miss: 'no_route' };
  trace.route = routeName(vh.routes, vh.routes.indexOf(matched));
  trace.kind = matched.kind;
  if (matched.kind !== 'forward') return { trace, route: matched, choice: null };
  const total = matched.clusters.reduce((s, c) => s + c.weight, 0);
  trace.clusters = matched.clusters.map((c) => ({ name: c.name, weight: c.weight, probability: total > 0 ? Math.round((c.weight / total) * 10_000) / 100 : 0 }));
  const choice = matched.pickCluster(draw(), request.headers);
  if (choice) trace.cluster = choice.name;
  trace.timeoutMs = matched.timeoutMs;
  const retry = matched.retryPolicy;
  if (retry && retry.numRetries > 0) {
    const retryOn = rawRoute?.route?.retry_policy?.retry_on ?? rawVh?.retry_policy?.retry_on ?? '';
    trace.retries = { attempts: retry.numRetries, perTryTimeoutMs: retry.perTryTimeoutMs, retryOn };
  }
  trace.downstreamPath = request.path + (request.query ? `?${request.query}` : '');
  trace.downstreamAuthority = request.authority;
  trace.upstreamPath = matched.rewritePath(request.path) + (request.query ? `?${request.query}` : '');
  trace.upstreamAuthority = matched.rewriteAuthority(request, choice);
  return { trace, route: matched, choice };
}
