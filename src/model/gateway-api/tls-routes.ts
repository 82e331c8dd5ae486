// A TLSRoute: TLS connections to a Passthrough listener go, by their SNI, unterminated to its backends,
// as a VirtualService `tls` route whose sniHosts are the hostname it binds (Istio's convertTLSRoute).
import type { TLSRoute as GatewayTLSRoute } from '../../config/resource.ts';
import type { TLSRoute } from '../../config/types/networking.ts';
import type { BackendContext } from './backends.ts';
import type { GatewayRoute } from './references.ts';
import { translateTcpRules } from './tcp-routes.ts';

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

/** The VirtualService TLS routes of a TLSRoute bound for `host` (`*`: any SNI); a rule with no valid backend is left out. */
export function translateTlsRules(route: GatewayRoute, host: string, ctx: BackendContext): TLSRoute[] {
  return translateTcpRules(route, undefined, ctx).map((r) => ({ match: [{ sniHosts: [host] }], ...(r.route ? { route: r.route } : {}) }));
}
