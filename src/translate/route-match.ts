// VirtualService HTTPMatchRequest → Envoy RouteMatch, and the per-proxy filters (port, gateways,
// sourceLabels, sourceNamespace) that decide whether a match exists for this proxy at all.
import type { HTTPMatchRequest, StringMatch } from '../config/types/networking.ts';
import { matchesLabels } from '../model/labels.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { qualifyGateway } from '../model/virtual-service-merge.ts';
import { stringMatcher } from './xds-values.ts';

/** Where a route table is built: the listener port and, for gateways, the gateways this proxy runs. */
export interface RouteContext {
  proxy: ProxyView;
  port: number;
  /** `mesh` for sidecars; `namespace/name` of each Gateway for routers. */
  gateways: readonly string[];
  /** Gateways the VirtualService is bound to, resolved to `namespace/name` (or `mesh`). */
  vsGateways: readonly string[];
  vsNamespace: string;
  /**
   * A gateway server with `tls` set (Istio's RouteOptions.IsTLS): a redirect without a scheme goes to
   * https, so its default port is 443 rather than 80.
   */
  tls?: boolean;
}

/**
 * Whether one match clause applies to routes built for this proxy and port. sourceLabels and
 * sourceNamespace are the proxy's own, a gateway's as a sidecar's. An HTTP clause naming gateways
 * applies on those and does not read its sourceLabels or sourceNamespace (Istio's sourceMatchHTTP); a
 * TCP or TLS clause needs all of them (Istio's matchTCP).
 */
export function matchApplies(
  m: HTTPMatchRequest | { port?: number; sourceLabels?: Record<string, string>; gateways?: string[]; sourceNamespace?: string },
  ctx: RouteContext,
  kind: 'http' | 'tcp' = 'http',
): boolean {
  if (m.port !== undefined && m.port !== ctx.port) return false;
  const gateways = m.gateways ?? [];
  const named = gateways.length > 0;
  if (named && !gateways.some((g) => ctx.gateways.includes(qualifyGateway(g, ctx.vsNamespace)))) return false;
  if (named && kind === 'http') return true;
  if (m.sourceLabels && !matchesLabels(m.sourceLabels, ctx.proxy.labels)) return false;
  if (m.sourceNamespace !== undefined && m.sourceNamespace !== ctx.proxy.namespace) return false;
  return named || ctx.vsGateways.some((g) => ctx.gateways.includes(g));
}

export function translateRouteMatch(m: HTTPMatchRequest | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const uri = m?.uri;
  if (!uri || (uri.exact === undefined && uri.prefix === undefined && uri.regex === undefined)) out['prefix'] = '/';
  else if (uri.exact !== undefined) out['path'] = uri.exact;
  else if (uri.prefix !== undefined) out['prefix'] = uri.prefix;
  else out['safe_regex'] = { regex: uri.regex };
  if (m?.ignoreUriCase) out['case_sensitive'] = { value: false };
  const headers: Record<string, unknown>[] = [];
  const metadata: Record<string, unknown>[] = [];
  for (const [name, match] of Object.entries(m?.headers ?? {})) {
    const claims = routingClaims(name);
    if (claims) metadata.push(claimMatcher(claims, match, false));
    else headers.push(headerMatcher(name, match, false));
  }
  for (const [name, match] of Object.entries(m?.withoutHeaders ?? {})) {
    const claims = routingClaims(name);
    if (claims) metadata.push(claimMatcher(claims, match, true));
    else headers.push(headerMatcher(name, match, true));
  }
  if (metadata.length > 0) out['dynamic_metadata'] = metadata;
  if (m?.method) headers.push(headerMatcher(':method', m.method, false));
  if (m?.scheme) headers.push(headerMatcher(':scheme', m.scheme, false));
  if (m?.authority) headers.push(headerMatcher(':authority', m.authority, false));
  if (headers.length > 0) out['headers'] = headers;
  const query: Record<string, unknown>[] = [];
  // Istio's translateQueryParamMatch: only a match without a value is presence; `exact: ""` stays exact.
  for (const [name, match] of Object.entries(m?.queryParams ?? {})) {
    query.push(isEmpty(match) ? { name, present_match: true } : { name, string_match: stringMatcher(match) });
  }
  if (query.length > 0) out['query_parameters'] = query;
  return out;
}

const CLAIM_KEY = '@request.auth.claims';
const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';

/**
 * The claim path of a `@request.auth.claims.a.b` or `@request.auth.claims[a][b]` key, else undefined
 * (Istio's jwt.ToRoutingClaim).
 */
function routingClaims(name: string): string[] | undefined {
  if (!name.toLowerCase().startsWith(CLAIM_KEY)) return undefined;
  const rest = name.slice(CLAIM_KEY.length);
  if (rest.startsWith('.') && rest.length > 1) return rest.slice(1).split('.');
  if (rest.startsWith('[') && rest.endsWith(']') && rest.length > 2) return rest.slice(1, -1).split('][');
  return undefined;
}

/**
 * A claim match as Istio's translateMetadataMatch writes it: the jwt_authn filter's `payload` entry
 * (the payload_in_metadata pilot sets), a string claim or one element of a list claim; inverted for
 * withoutHeaders. The route matches once jwt_authn has run, which on a gateway re-resolves the route.
 */
function claimMatcher(claims: string[], match: StringMatch, invert: boolean): Record<string, unknown> {
  // pilot's ConvertToEnvoyMatch has no matcher for an empty StringMatch; presence is what it asks.
  const value = isEmpty(match) ? { present_match: true } : { string_match: stringMatcher(match) };
  return {
    filter: JWT_AUTHN_FILTER,
    path: ['payload', ...claims].map((key) => ({ key })),
    value: { or_match: { value_matchers: [{ list_match: { one_of: value } }, value] } },
    ...(invert ? { invert: true } : {}),
  };
}

function headerMatcher(name: string, match: StringMatch, invert: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { name: name.toLowerCase() };
  if (isEmpty(match)) out['present_match'] = true;
  else out['string_match'] = stringMatcher(match);
  if (invert) {
    out['invert_match'] = true;
    // Istio's withoutHeaders: a missing header counts as empty, so a request without it matches (unless
    // the value asked to be absent is ""); a presence-only match keeps Envoy's "absent" meaning.
    if (!isEmpty(match)) out['treat_missing_header_as_empty'] = true;
  }
  return out;
}

function isEmpty(m: StringMatch): boolean {
  return m.exact === undefined && m.prefix === undefined && m.regex === undefined;
}
