// One Istio HTTPRoute as Envoy routes for a proxyless gRPC client: one route per match (Envoy routes
// carry a single match), weighted or single-cluster action, and fault injection per route.
import type { HTTPFaultInjection, HTTPRoute, StringMatch } from '../config/types/networking.ts';
import { duration } from '../xds/duration.ts';
import { parseDurationMs } from '../xds/duration.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { resolveHost } from '../model/host.ts';

export interface TranslatedRoute {
  routes: Record<string, unknown>[];
  clusters: { name: string }[];
}

const grpcCodes = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

function stringMatcher(m: StringMatch): Record<string, unknown> {
  if (m.exact !== undefined) return { exact: m.exact };
  if (m.prefix !== undefined) return { prefix: m.prefix };
  if (m.regex !== undefined) return { safe_regex: { regex: m.regex } };
  return { prefix: '' };
}

/** Istio percentage (0-100, fractional) → Envoy FractionalPercent per million. */
function fraction(value: number | undefined): { numerator: number; denominator: string } {
  return { numerator: Math.round(Math.min(100, Math.max(0, value ?? 100)) * 10_000), denominator: 'MILLION' };
}

function faultConfig(f: HTTPFaultInjection): Record<string, unknown> {
  const out: Record<string, unknown> = { '@type': TypeUrl.HttpFault };
  if (f.abort) {
    const code = f.abort.grpcStatus !== undefined ? grpcCodes.indexOf(f.abort.grpcStatus) : -1;
    out['abort'] = code >= 0 ? { grpc_status: code, percentage: fraction(f.abort.percentage?.value) } : { http_status: f.abort.httpStatus ?? 503, percentage: fraction(f.abort.percentage?.value) };
  }
  if (f.delay) {
    const ms = parseDurationMs(f.delay.fixedDelay ?? '') ?? 0;
    out['delay'] = { fixed_delay: duration(ms), percentage: fraction(f.delay.percentage?.value ?? f.delay.percent) };
  }
  return out;
}

/** `defaultHost` is the Service's FQDN; short destination hosts are resolved in its namespace. */
export function translateHttpRoute(h: HTTPRoute, defaultHost: string, port: number): TranslatedRoute {
  const namespace = defaultHost.split('.')[1] ?? 'default';
  const destinations = (h.route ?? []).map((d) => ({
    name: `outbound|${d.destination.port?.number ?? port}|${d.destination.subset ?? ''}|${resolveHost(d.destination.host, namespace)}`,
    weight: d.weight,
  }));
  const action: Record<string, unknown> = {};
  if (destinations.length === 1) action['cluster'] = destinations[0]?.name;
  else if (destinations.length > 1) {
    action['weighted_clusters'] = { clusters: destinations.map((d) => ({ name: d.name, weight: { value: d.weight ?? 0 } })) };
  }
  const timeout = h.timeout ? parseDurationMs(h.timeout) : undefined;
  if (timeout !== undefined) action['timeout'] = duration(timeout);
  const matches = h.match?.length ? h.match : [{}];
  const routes = matches.map((m) => {
    const match: Record<string, unknown> = m.uri ? uriMatch(m.uri) : { prefix: '' };
    const headers = Object.entries(m.headers ?? {}).map(([name, v]) => ({ name, string_match: stringMatcher(v) }));
    if (headers.length) match['headers'] = headers;
    const route: Record<string, unknown> = { name: h.name ?? '', match };
    if (h.directResponse) route['direct_response'] = { status: h.directResponse.status };
    else route['route'] = action;
    if (h.fault) route['typed_per_filter_config'] = { 'envoy.filters.http.fault': faultConfig(h.fault) };
    return route;
  });
  return { routes, clusters: destinations.map((d) => ({ name: d.name })) };
}

function uriMatch(m: StringMatch): Record<string, unknown> {
  if (m.exact !== undefined) return { path: m.exact };
  if (m.regex !== undefined) return { safe_regex: { regex: m.regex } };
  return { prefix: m.prefix ?? '' };
}
