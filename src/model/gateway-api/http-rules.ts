// One HTTPRoute rule's match → VirtualService HTTPRoutes, as Istio converts them: path, headers, query
// parameters and method become an HTTPMatchRequest; filters become headers, redirect, rewrite and
// mirrors; backendRefs become weighted destinations; timeouts the route timeout and per-try timeout.
import type { HTTPHeaderFilter, HTTPPathMatch, HTTPPathModifier, HTTPRouteFilter, HTTPRouteMatch, HTTPRouteRule } from '../../config/types/gateway-api.ts';
import type { HeaderOperations, HTTPMatchRequest, HTTPMirrorPolicy, HTTPRoute, HTTPRouteDestination, StringMatch } from '../../config/types/networking.ts';
import { PREFIX_REDIRECT } from './gateways.ts';
import { parseDurationMs } from '../../xds/duration.ts';
import { type BackendContext, invalidBackend, resolveBackend } from './backends.ts';
import type { GatewayRoute } from './references.ts';

/** The default match of a rule without matches, and the default path of an HTTPRoute match: every request. */
const rootPrefix: HTTPPathMatch = { type: 'PathPrefix', value: '/' };
const everything: HTTPRouteMatch = { path: rootPrefix };

/**
 * A rule's matches as the API server defaults them: an HTTPRoute rule without matches, or a match
 * without a path, matches the PathPrefix `/`. A GRPCRoute has no such default: a match without a method
 * ranks below every path match, and a rule without matches (`undefined`) last of all, as Istio sorts them.
 */
export function ruleMatches(route: GatewayRoute, rule: HTTPRouteRule): (HTTPRouteMatch | undefined)[] {
  if (route.kind !== 'HTTPRoute') return rule.matches?.length ? rule.matches : [undefined];
  if (!rule.matches?.length) return [everything];
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
): HTTPRoute[] {
  const rule = route.spec.rules?.[ruleIndex] ?? {};
  const name = `${route.metadata.namespace}.${route.metadata.name}.${ruleIndex}.${matchIndex}`;
  const match = given ?? everything;
  const base = translateMatch(match, port);
  const path = match.path ?? rootPrefix;
  const prefix = (path?.type ?? 'PathPrefix') === 'PathPrefix' ? trimSlash(path?.value ?? '/') : undefined;
  if (prefix === undefined || prefix === '/') return [translateRule(route, rule, name, { ...base, ...(prefix ? { uri: { prefix: '/' } } : {}) }, prefix ?? '', ctx)];
  return [
    translateRule(route, rule, name, { ...base, uri: { exact: prefix } }, prefix, ctx),
    translateRule(route, rule, name, { ...base, uri: { prefix: `${prefix}/` } }, `${prefix}/`, ctx),
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
  if (f.set?.length) out.set = Object.fromEntries(f.set.map((h) => [h.name, h.value]));
  if (f.add?.length) out.add = Object.fromEntries(f.add.map((h) => [h.name, h.value]));
  if (f.remove?.length) out.remove = [...f.remove];
  return out;
}

function filterOf<T extends HTTPRouteFilter['type']>(filters: readonly HTTPRouteFilter[] | undefined, type: T): HTTPRouteFilter | undefined {
  return filters?.find((f) => f.type === type);
}

/** The path a ReplacePrefixMatch writes for the part of the path `matched` covers. */
function prefixReplacement(p: HTTPPathModifier, matched: string): string {
  const to = p.replacePrefixMatch ?? '/';
  if (!matched.endsWith('/')) return to === '' ? '/' : to;
  return to.endsWith('/') ? to : `${to}/`;
}

function translateRule(route: GatewayRoute, rule: HTTPRouteRule, name: string, match: HTTPMatchRequest, matched: string, ctx: BackendContext): HTTPRoute {
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
    if (redirect.port) out.redirect.port = redirect.port;
    else if (redirect.scheme) out.redirect.port = redirect.scheme === 'https' ? 443 : 80;
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
    else if (p?.type === 'ReplacePrefixMatch') out.rewrite.uri = prefixReplacement(p, matched);
  }

  const mirrors: HTTPMirrorPolicy[] = [];
  for (const f of filters ?? []) {
    const m = f.type === 'RequestMirror' ? f.requestMirror : undefined;
    const dest = m && resolveBackend(m.backendRef, route, ctx);
    if (!m || !dest) continue;
    const percent = m.fraction ? (m.fraction.numerator / (m.fraction.denominator ?? 100)) * 100 : (m.percent ?? 100);
    mirrors.push({ destination: dest, percentage: { value: percent } });
  }
  if (mirrors.length > 0) out.mirrors = mirrors;

  const destinations: HTTPRouteDestination[] = [];
  let valid = 0;
  for (const ref of rule.backendRefs ?? []) {
    const resolved = resolveBackend(ref, route, ctx);
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

  const request_ = parseDurationMs(rule.timeouts?.request ?? '') ?? 0;
  if (request_ > 0) out.timeout = rule.timeouts?.request as string;
  const backend = parseDurationMs(rule.timeouts?.backendRequest ?? '') ?? 0;
  // As Istio's conversion without a `retry` stanza (which is not taken): the backend request's timeout is
  // the route's. (A `retries` with only perTryTimeout would disable retrying: no attempts.)
  if (backend > 0) out.timeout = rule.timeouts?.backendRequest as string;
  return out;
}
