// A TCPRoute: connections to its parent (a Service's port, or a Gateway's TCP listener) go to its
// backends by weight, as a VirtualService `tcp` route. It has no matches; the first rule takes them.
import type { TCPRoute as GatewayTCPRoute } from '../../config/resource.ts';
import type { RouteDestination, TCPRoute } from '../../config/types/networking.ts';
import { type BackendContext, resolveBackend } from './backends.ts';
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

/** The VirtualService TCP routes of a TCPRoute's rules; a rule with no valid backend is left out. */
export function translateTcpRules(route: GatewayRoute, port: number | undefined, ctx: BackendContext): TCPRoute[] {
  const out: TCPRoute[] = [];
  for (const rule of route.spec.rules ?? []) {
    const destinations: RouteDestination[] = [];
    for (const ref of rule.backendRefs ?? []) {
      const destination = resolveBackend(ref, route, ctx);
      const weight = ref.weight ?? 1;
      if (destination && weight > 0) destinations.push({ destination, weight });
    }
    if (destinations.length === 0) continue;
    if (destinations.length === 1) delete (destinations[0] as RouteDestination).weight;
    out.push({ ...(port !== undefined ? { match: [{ port }] } : {}), route: destinations });
  }
  return out;
}
