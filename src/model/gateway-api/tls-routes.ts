// A TLSRoute: TLS connections go, by their SNI, unterminated to its backends, as a VirtualService `tls`
// route (Istio's convertTLSRoute): at a Gateway's Passthrough listener, the SNIs of the hostname it
// binds; with a Service parent (mesh routing, GAMMA), the SNIs of its hostnames to that Service's port.
import type { TLSRoute as GatewayTLSRoute } from '../../config/resource.ts';
import type { TLSRoute } from '../../config/types/networking.ts';
import type { BackendContext } from './backends.ts';
import type { Binding } from './parents.ts';
import type { GatewayRoute } from './references.ts';
import { translateL4Backends } from './tcp-routes.ts';

/** The TLSRoute as the conversion reads routes: hostnames, and rules of backends only. */
export function tlsAsRoute(route: GatewayTLSRoute): GatewayRoute {
  return {
    kind: 'TLSRoute',
    metadata: route.metadata,
    spec: {
      ...(route.spec.parentRefs ? { parentRefs: route.spec.parentRefs } : {}),
      ...(route.spec.hostnames ? { hostnames: route.spec.hostnames } : {}),
      rules: route.spec.rules.map((r) => (r.backendRefs ? { backendRefs: r.backendRefs } : {})),
    },
  };
}

/**
 * The VirtualService TLS routes of a TLSRoute where it binds, one per rule. At a Gateway the SNIs are
 * the binding's host (`*`: any). In the mesh they are the route's hostnames, or the Service's own name
 * when it has none (a sidecar has no "any SNI" chain for a Service), on the parentRef's port if given
 * (Istio's augmentTLSPortMatch).
 */
export function translateTlsRules(route: GatewayRoute, binding: Binding, ctx: BackendContext, enforceRefGrant: boolean): TLSRoute[] {
  const mesh = binding.gateways.includes('mesh');
  // In the mesh, only the parent Service's own name: a route names no other namespace's or outside
  // host to capture its TLS (Istio's validateSniHost: the SNIs a subset of the route's host).
  const named = mesh ? meshSniHosts(route, binding.host) : [binding.host];
  if (named.length === 0) return [];
  const sniHosts = named;
  const match = { sniHosts, ...(binding.port !== undefined ? { port: binding.port } : {}) };
  return (route.spec.rules ?? []).map((rule) => ({ match: [{ ...match }], route: translateL4Backends(rule, route, ctx, enforceRefGrant) }));
}

/** A mesh TLSRoute's SNIs: its hostnames that are its parent Service's name, or that name when it has none. */
export function meshSniHosts(route: GatewayRoute, serviceHost: string): string[] {
  const hostnames = route.spec.hostnames ?? [];
  if (hostnames.length === 0) return [serviceHost];
  return hostnames.filter((h) => h.toLowerCase() === serviceHost);
}
