// A TCPRoute: connections to its parent (a Service's port, or a Gateway's TCP listener) go to its
// backends by weight, as a VirtualService `tcp` route. It has no matches: the first rule takes them.
import type { TCPRoute as GatewayTCPRoute } from '../../config/resource.ts';
import type { TCPRouteRule } from '../../config/types/gateway-api.ts';
import type { RouteDestination, TCPRoute } from '../../config/types/networking.ts';
import { type BackendContext, invalidBackend, NO_BACKEND, resolveBackend } from './backends.ts';
import type { GatewayRoute } from './references.ts';

/** The TCPRoute as the conversion reads routes: its rules are backends only. */
export function tcpAsRoute(route: GatewayTCPRoute): GatewayRoute {
  return {
    kind: 'TCPRoute',
    metadata: route.metadata,
    spec: {
      ...(route.spec.parentRefs ? { parentRefs: route.spec.parentRefs } : {}),
      rules: route.spec.rules.map((r) => (r.backendRefs ? { backendRefs: r.backendRefs } : {})),
    },
  };
}

/** The VirtualService TCP routes of a TCPRoute's rules, one per rule (Istio's convertTCPRoute). */
export function translateTcpRules(route: GatewayRoute, port: number | undefined, ctx: BackendContext, enforceRefGrant: boolean): TCPRoute[] {
  return (route.spec.rules ?? []).map((rule) => ({ ...(port !== undefined ? { match: [{ port }] } : {}), route: translateL4Backends(rule, route, ctx, enforceRefGrant) }));
}

/**
 * A TCPRoute or TLSRoute rule's weighted destinations. The API asks that connections to an invalid
 * backend be refused, by weight: an invalid backend keeps its share, sent where no cluster is (see
 * invalidBackend); a rule with no backend of weight above 0 refuses every connection (NO_BACKEND).
 */
export function translateL4Backends(rule: TCPRouteRule, route: GatewayRoute, ctx: BackendContext, enforceRefGrant: boolean): RouteDestination[] {
  const destinations: RouteDestination[] = [];
  for (const ref of rule.backendRefs ?? []) {
    const weight = ref.weight ?? 1;
    if (weight > 0) destinations.push({ destination: resolveBackend(ref, route, ctx, enforceRefGrant) ?? invalidBackend(ref, route), weight });
  }
  if (destinations.length === 0) return [{ destination: NO_BACKEND }];
  if (destinations.length === 1) delete (destinations[0] as RouteDestination).weight;
  return destinations;
}
