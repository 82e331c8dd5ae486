// One HTTPRoute rule's match → VirtualService HTTPRoutes, as Istio converts them (convertHTTPRoute):
// path, headers, query parameters and method become an HTTPMatchRequest; filters become headers,
// redirect, rewrite, mirrors and corsPolicy; backendRefs become weighted destinations; retry the
// retries; timeouts the route timeout and per-try timeout.
import type { HTTPCORSFilter, HTTPHeader, HTTPHeaderFilter, HTTPPathMatch, HTTPPathModifier, HTTPRouteFilter, HTTPRouteMatch, HTTPRouteRule } from '../../config/types/gateway-api.ts';
import type { CorsPolicy, HeaderOperations, HTTPMatchRequest, HTTPMirrorPolicy, HTTPRetry, HTTPRoute, HTTPRouteDestination, StringMatch } from '../../config/types/networking.ts';
import { PREFIX_REDIRECT } from './gateways.ts';
import { parseDurationMs } from '../../xds/duration.ts';
import { type BackendContext, invalidBackend, resolveBackend } from './backends.ts';
import type { GatewayRoute } from './references.ts';

/** The default match of a rule without matches, and the default path of an HTTPRoute match: every request. */
const rootPrefix: HTTPPathMatch = { type: 'PathPrefix', value: '/' };
const everything: HTTPRouteMatch = { path: rootPrefix };

/**
 * A rule's matches as the API server defaults them: an HTTPRoute rule without `matches`, or a match
 * without a path, matches the PathPrefix `/`. The default is for an absent field only: `matches: []`
 * reaches Istio empty, a route with no match, which it sorts last (`undefined`), after every regex.
 * A GRPCRoute has no such default: a match without a method ranks below every path match, and a rule
 * without matches last of all, as Istio sorts them.
 */
export function ruleMatches(route: GatewayRoute, rule: HTTPRouteRule): (HTTPRouteMatch | undefined)[] {
  if (route.kind !== 'HTTPRoute') return rule.matches?.length ? rule.matches : [undefined];
  if (rule.matches === undefined) return [everything];
  if (rule.matches.length === 0) return [undefined];
  return rule.matches.map((m) => (m.path ? m : { ...m, path: rootPrefix }));
}

/**
 * The VirtualService HTTPRoutes of one match of a rule. A PathPrefix matches whole path segments
 * (`/foo` matches `/foo` and `/foo/bar`, not `/foobar`), so a prefix other than `/` becomes two routes,
 * the exact path and the prefix with its trailing `/`, next to each other; each rewrites its own part.
 */
export function translateRuleMatch(
  route: GatewayRoute,
  ruleIndex: number,
  matchIndex: number,
  given: HTTPRouteMatch | undefined,
  port: number | undefined,
  ctx: BackendContext,
  enforceRefGrant: boolean,
): HTTPRoute[] {
  const rule = route.spec.rules?.[ruleIndex] ?? {};
  const name = `${route.metadata.namespace}.${route.metadata.name}.${ruleIndex}.${matchIndex}`;
  const match = given ?? everything;
  const base = translateMatch(match, port);
  const path = match.path ?? rootPrefix;
  const prefix = (path?.type ?? 'PathPrefix') === 'PathPrefix' ? trimSlash(path?.value ?? '/') : undefined;
  const env = { ctx, enforceRefGrant };
  if (prefix === undefined || prefix === '/') return [translateRule(route, rule, name, { ...base, ...(prefix ? { uri: { prefix: '/' } } : {}) }, prefix ?? '', env)];
  return [
    translateRule(route, rule, name, { ...base, uri: { exact: prefix } }, prefix, env),
    translateRule(route, rule, name, { ...base, uri: { prefix: `${prefix}/` } }, `${prefix}/`, env),
  ];
}

function trimSlash(p: string): string {
  return p !== '/' && p.endsWith('/') ? p.slice(0, -1) : p;
}

function translateMatch(m: HTTPRouteMatch, port: number | undefined): HTTPMatchRequest {
  const out: HTTPMatchRequest = {};
  const path = m.path;
  if (path && path.type === 'Exact') out.uri = { exact: path.value ?? '/' };
  else if (path && path.type === 'RegularExpression') out.uri = { regex: path.value ?? '/' };
  const headers: Record<string, StringMatch> = {};
  // Header names are case-insensitive; the first match of a name counts (the API's rule).
  for (const h of m.headers ?? []) headers[h.name.toLowerCase()] ??= h.type === 'RegularExpression' ? { regex: h.value } : { exact: h.value };
  if (Object.keys(headers).length > 0) out.headers = headers;
  const query: Record<string, StringMatch> = {};
  for (const q of m.queryParams ?? []) query[q.name] ??= q.type === 'RegularExpression' ? { regex: q.value } : { exact: q.value };
  if (Object.keys(query).length > 0) out.queryParams = query;
  if (m.method) out.method = { exact: m.method };
  if (port !== undefined) out.port = port;
  return out;
}

function headerOps(f: HTTPHeaderFilter | undefined): HeaderOperations | undefined {
  if (!f) return undefined;
  const out: HeaderOperations = {};
  if (f.set?.length) out.set = headerListToMap(f.set);
  if (f.add?.length) out.add = headerListToMap(f.add);
  if (f.remove?.length) out.remove = [...f.remove];
  return out;
}

/** Istio's headerListToMap: names lower-cased; "subsequent entries with an equivalent header name MUST be ignored". */
function headerListToMap(headers: readonly HTTPHeader[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of headers) out[h.name.toLowerCase()] ??= h.value;
  return out;
}

function filterOf<T extends HTTPRouteFilter['type']>(filters: readonly HTTPRouteFilter[] | undefined, type: T): HTTPRouteFilter | undefined {
  return filters?.find((f) => f.type === type);
}

/** The path a ReplacePrefixMatch redirect writes for the part of the path `matched` covers. */
function prefixReplacement(p: HTTPPathModifier, matched: string): string {
  const to = p.replacePrefixMatch ?? '/';
  if (!matched.endsWith('/')) return to === '' ? '/' : to;
  return to.endsWith('/') ? to : `${to}/`;
}

/**
 * The path a ReplacePrefixMatch rewrite writes for the part of the path `matched` covers. Istio's
 * createRewriteFilter trims one trailing `/` (`""` is `/`), so the exact path `/foo` becomes `/bar`
 * for `/bar/`; under `/foo/` the separator stays.
 */
function prefixRewrite(p: HTTPPathModifier, matched: string): string {
  const to = p.replacePrefixMatch ?? '/';
  const trimmed = to.endsWith('/') ? to.slice(0, -1) : to;
  if (!matched.endsWith('/')) return trimmed === '' ? '/' : trimmed;
  return `${trimmed}/`;
}

/** Istio's createCorsFilter: origins as exact matches; maxAge in seconds (the API server's default 5). */
function corsPolicy(f: HTTPCORSFilter): CorsPolicy {
  const out: CorsPolicy = {};
  const origins = (f.allowOrigins ?? []).filter((o) => o !== '');
  if (origins.length > 0) out.allowOrigins = origins.map((exact) => ({ exact }));
  if (f.allowCredentials) out.allowCredentials = true;
  if (f.allowMethods?.length) out.allowMethods = [...f.allowMethods];
  if (f.allowHeaders?.length) out.allowHeaders = [...f.allowHeaders];
  if (f.exposeHeaders?.length) out.exposeHeaders = [...f.exposeHeaders];
  const maxAge = f.maxAge ?? 5;
  if (maxAge > 0) out.maxAge = `${maxAge}s`;
  return out;
}

/**
 * Istio's conversion of `retry`: connection errors are always retried ("Implementations SHOULD retry on
 * connection errors"), and each code; attempts default to 2; no retryOn without attempts. A `backoff`
 * of 0 is left out: Envoy's RetryBackOff.base_interval must be above 0, so it would NACK the route
 * configuration. Istio passes it on (durationpb.New(0)), the same hole; other implementations guard it.
 */
function retries(r: NonNullable<HTTPRouteRule['retry']>): HTTPRetry {
  const attempts = r.attempts ?? 2;
  const retryOn = ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', ...(r.codes ?? []).map(String)].join(',');
  const backoff = r.backoff !== undefined && (parseDurationMs(r.backoff) ?? 0) > 0 ? { backoff: r.backoff } : {};
  return { attempts, ...(attempts > 0 ? { retryOn } : {}), ...backoff };
}

interface RuleEnv {
  ctx: BackendContext;
  enforceRefGrant: boolean;
}

function translateRule(route: GatewayRoute, rule: HTTPRouteRule, name: string, match: HTTPMatchRequest, matched: string, { ctx, enforceRefGrant }: RuleEnv): HTTPRoute {
  const out: HTTPRoute = { name, match: [match] };
  const filters = rule.filters;
  const request = headerOps(filterOf(filters, 'RequestHeaderModifier')?.requestHeaderModifier);
  const response = headerOps(filterOf(filters, 'ResponseHeaderModifier')?.responseHeaderModifier);
  if (request || response) out.headers = { ...(request ? { request } : {}), ...(response ? { response } : {}) };

  const redirect = filterOf(filters, 'RequestRedirect')?.requestRedirect;
  if (redirect) {
    out.redirect = { redirectCode: redirect.statusCode ?? 302 };
    if (redirect.scheme) out.redirect.scheme = redirect.scheme;
    if (redirect.hostname) out.redirect.authority = redirect.hostname;
    // Istio's createRedirectFilter: without a port, the scheme's default port when a scheme is given,
    // else the request's ("When empty, port (if specified) of the request is used").
    if (redirect.port) out.redirect.port = redirect.port;
    else out.redirect.derivePort = redirect.scheme ? 'FROM_PROTOCOL_DEFAULT' : 'FROM_REQUEST_PORT';
    const p = redirect.path;
    if (p?.type === 'ReplaceFullPath') out.redirect.uri = p.replaceFullPath ?? '/';
    else if (p?.type === 'ReplacePrefixMatch') out.redirect.uri = matched.endsWith('/') ? `${PREFIX_REDIRECT}${prefixReplacement(p, matched)}` : prefixReplacement(p, matched);
    return out;
  }

  const rewrite = filterOf(filters, 'URLRewrite')?.urlRewrite;
  if (rewrite) {
    out.rewrite = {};
    if (rewrite.hostname) out.rewrite.authority = rewrite.hostname;
    const p = rewrite.path;
    if (p?.type === 'ReplaceFullPath') out.rewrite.uriRegexRewrite = { match: '/.*', rewrite: p.replaceFullPath ?? '/' };
    else if (p?.type === 'ReplacePrefixMatch') out.rewrite.uri = prefixRewrite(p, matched);
  }

  const cors = filterOf(filters, 'CORS')?.cors;
  if (cors) out.corsPolicy = corsPolicy(cors);

  const mirrors: HTTPMirrorPolicy[] = [];
  for (const f of filters ?? []) {
    const m = f.type === 'RequestMirror' ? f.requestMirror : undefined;
    const dest = m && resolveBackend(m.backendRef, route, ctx, enforceRefGrant);
    if (!m || !dest) continue;
    const percent = m.fraction ? (m.fraction.numerator / (m.fraction.denominator ?? 100)) * 100 : (m.percent ?? 100);
    mirrors.push({ destination: dest, percentage: { value: percent } });
  }
  if (mirrors.length > 0) out.mirrors = mirrors;

  const destinations: HTTPRouteDestination[] = [];
  let valid = 0;
  for (const ref of rule.backendRefs ?? []) {
    const resolved = resolveBackend(ref, route, ctx, enforceRefGrant);
    const weight = ref.weight ?? 1;
    if (weight === 0) continue;
    if (resolved) valid++;
    // An invalid backend keeps its share of the split, answered 500 (see invalidBackend).
    const d: HTTPRouteDestination = { destination: resolved ?? invalidBackend(ref, route), weight };
    const req = headerOps(filterOf(ref.filters, 'RequestHeaderModifier')?.requestHeaderModifier);
    const res = headerOps(filterOf(ref.filters, 'ResponseHeaderModifier')?.responseHeaderModifier);
    if (req || res) d.headers = { ...(req ? { request: req } : {}), ...(res ? { response: res } : {}) };
    destinations.push(d);
  }
  if (valid === 0) {
    // No backend to forward to: the API's 500 (a rule whose backends are all invalid, or weigh 0).
    delete out.rewrite;
    delete out.mirrors;
    out.directResponse = { status: 500 };
    return out;
  }
  if (destinations.length === 1) delete (destinations[0] as HTTPRouteDestination).weight;
  out.route = destinations;

  if (rule.retry) out.retries = retries(rule.retry);
  const request_ = parseDurationMs(rule.timeouts?.request ?? '') ?? 0;
  if (request_ > 0) out.timeout = rule.timeouts?.request as string;
  const backend = parseDurationMs(rule.timeouts?.backendRequest ?? '') ?? 0;
  // As Istio converts it: with a `retry`, the backend request's timeout is each attempt's; without one,
  // the route's (a `retries` of only perTryTimeout would disable retrying: no attempts).
  if (backend > 0) {
    if (out.retries) out.retries.perTryTimeout = rule.timeouts?.backendRequest as string;
    else out.timeout = rule.timeouts?.backendRequest as string;
  }
  return out;
}
