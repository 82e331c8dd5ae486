// VirtualService HTTPMatchRequest → Envoy RouteMatch, and the per-proxy filters (port, gateways,
// sourceLabels, sourceNamespace) that decide whether a match exists for this proxy at all.
import type { HTTPMatchRequest, StringMatch } from '../config/types/networking.ts';
import { matchesLabels } from '../model/labels.ts';
import type { ProxyView } from '../model/proxy-view.ts';
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

/** `name` → `vsNamespace/name`; `mesh` stays `mesh`. */
export function qualifyGateway(gateway: string, vsNamespace: string): string {
  if (gateway === 'mesh' || gateway.includes('/')) return gateway;
  return `${vsNamespace}/${gateway.split('.')[0]}`;
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
  for (const [name, match] of Object.entries(m?.headers ?? {})) headers.push(headerMatcher(name, match, false));
  for (const [name, match] of Object.entries(m?.withoutHeaders ?? {})) headers.push(headerMatcher(name, match, true));
  if (m?.method) headers.push(headerMatcher(':method', m.method, false));
  if (m?.scheme) headers.push(headerMatcher(':scheme', m.scheme, false));
  if (m?.authority) headers.push(headerMatcher(':authority', m.authority, false));
  if (headers.length > 0) out['headers'] = headers;
  const query: Record<string, unknown>[] = [];
  for (const [name, match] of Object.entries(m?.queryParams ?? {})) {
    query.push(
      match.exact === '' || isEmpty(match) ? { name, present_match: true } : { name, string_match: stringMatcher(match) },
    );
  }
  if (query.length > 0) out['query_parameters'] = query;
  return out;
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
