// A gateway's RouteConfiguration for one set of servers (`http.PORT`, or one HTTPS server): a
// virtual host per VirtualService host bound to the gateway, routes merged in VirtualService order.
// As Istio builds it: one domain per host, the port ignored in host matching, a virtual host that
// redirects to HTTPS for every httpsRedirect server host, and an empty `blackhole` host (404 NR)
// when nothing is bound.
import type { ProxyScope } from '../model/proxy-scope.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import { sortCatchAllLast, throughFirstCatchAll } from './catch-all-routes.ts';
import { type GatewayServer, serverHostNames, virtualServicesOn } from './gateway-servers.ts';
import { translateHttpRoute } from './http-route.ts';
import { routeEnv } from './route-env.ts';
import { expandedHttpRoutes } from '../model/virtual-service-merge.ts';
import { boundGateways } from './virtual-service-routes.ts';

interface VirtualHostDraft {
  /** The port of the server that added the host first: Istio's name is util.DomainName(host, server port). */
  port: number;
  routes: Record<string, unknown>[];
  requireTls: boolean;
}

export function buildGatewayRouteConfig(snapshot: MeshSnapshot, scope: ProxyScope, name: string, servers: readonly GatewayServer[]): Record<string, unknown> {
  const vhosts = new Map<string, VirtualHostDraft>();
  for (const gs of servers) {
    const redirect = gs.server.tls?.httpsRedirect === true;
    const port = gs.server.port.number;
    for (const { vs, hosts } of virtualServicesOn(snapshot, scope, gs)) {
      // Istio builds a server's routes for its own port (80), not the port the pod listens on (8080):
      // what `match.port` and `derivePort: FROM_REQUEST_PORT` see.
      const ctx = { proxy: scope.proxy, port: gs.server.port.number, gateways: [gs.key], vsGateways: boundGateways(vs), vsNamespace: vs.metadata.namespace, tls: gs.server.tls !== undefined };
      const translated: Record<string, unknown>[] = [];
      for (const { route, source } of expandedHttpRoutes(snapshot, vs)) {
        translated.push(...translateHttpRoute(route, routeEnv(snapshot, scope, { ...ctx, vsNamespace: source.metadata.namespace }, source, vs)));
      }
      const routes = throughFirstCatchAll(translated);
      for (const host of hosts) {
        const key = host.toLowerCase();
        const vh = vhosts.get(key) ?? { port, routes: [], requireTls: false };
        vh.routes.push(...routes);
        if (redirect) vh.requireTls = true;
        vhosts.set(key, vh);
      }
    }
    // An httpsRedirect host redirects whether or not a VirtualService serves it.
    if (redirect) {
      for (const host of serverHostNames(gs)) {
        const key = host.toLowerCase();
        const vh = vhosts.get(key) ?? { port, routes: [], requireTls: true };
        vh.requireTls = true;
        vhosts.set(key, vh);
      }
    }
  }
  const virtualHosts: Record<string, unknown>[] = [...vhosts].map(([host, vh]) => ({
    name: `${host}:${vh.port}`,
    domains: [host],
    routes: sortCatchAllLast(vh.routes),
    // Istio's proxyHeaders.attemptCount (on unless disabled), gateways included.
    include_request_attempt_count: snapshot.mesh.proxyHeaders.attemptCount,
    ...(vh.requireTls ? { require_tls: 'ALL' } : {}),
  }));
  if (virtualHosts.length === 0) {
    // No routes: Envoy answers 404 with flag NR, as for a host no virtual host serves. Named for the first server's port.
    virtualHosts.push({ name: `blackhole:${servers[0]?.server.port.number ?? 0}`, domains: ['*'], routes: [] });
  }
  return { name, virtual_hosts: virtualHosts, validate_clusters: { value: false }, ignore_port_in_host_matching: true };
}
