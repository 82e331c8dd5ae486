// A GRPCRoute is an HTTPRoute over gRPC's paths (`/<service>/<method>`): its method matches become path
// matches (as Istio converts them), and from there it is converted as an HTTPRoute is.
import type { GRPCRoute } from '../../config/resource.ts';
import type { GRPCMethodMatch, GRPCRouteMatch, HTTPPathMatch, HTTPRouteMatch, HTTPRouteSpec } from '../../config/types/gateway-api.ts';
import type { GatewayRoute } from './references.ts';

/**
 * The path match of a method match: service and method exact → that path; the service alone → its
 * prefix; the method alone → any service's method (a regex); RegularExpression → a regex of both parts.
 */
export function grpcPathMatch(m: GRPCMethodMatch): HTTPPathMatch | undefined {
  const { service, method } = m;
  if (service === undefined && method === undefined) return undefined;
  if ((m.type ?? 'Exact') === 'Exact') {
    if (method === undefined) return { type: 'PathPrefix', value: `/${service}` };
    if (service === undefined) return { type: 'RegularExpression', value: `/[^/]+/${escapeRegex(method)}` };
    return { type: 'Exact', value: `/${service}/${method}` };
  }
  return { type: 'RegularExpression', value: `/${service ?? '[^/]+'}/${method ?? '.+'}` };
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

function matchOf(m: GRPCRouteMatch): HTTPRouteMatch {
  const path = m.method && grpcPathMatch(m.method);
  return { ...(path ? { path } : {}), ...(m.headers?.length ? { headers: m.headers } : {}) };
}

/** The GRPCRoute as the HTTPRoute it routes like: the same parents, hostnames, filters and backends. */
export function grpcAsHttpRoute(route: GRPCRoute): GatewayRoute {
  const spec: HTTPRouteSpec = {
    ...(route.spec.parentRefs ? { parentRefs: route.spec.parentRefs } : {}),
    ...(route.spec.hostnames ? { hostnames: route.spec.hostnames } : {}),
    rules: (route.spec.rules ?? []).map((rule) => ({
      ...(rule.matches?.length ? { matches: rule.matches.map(matchOf) } : {}),
      ...(rule.filters ? { filters: rule.filters } : {}),
      ...(rule.backendRefs ? { backendRefs: rule.backendRefs } : {}),
    })),
  };
  return { kind: 'GRPCRoute', metadata: route.metadata, spec };
}
