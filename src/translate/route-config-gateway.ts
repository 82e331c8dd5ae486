// A gateway's RouteConfiguration for one set of servers (`http.PORT`, or one HTTPS server): a
// virtual host per VirtualService host bound to the gateway, routes merged in VirtualService order.
import type { ProxyScope } from '../model/proxy-scope.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import { type GatewayServer, virtualServicesOn } from './gateway-servers.ts';
import { translateHttpRoute } from './http-route.ts';
import { routeEnv } from './route-env.ts';
import { boundGateways, expandedHttpRoutes } from './virtual-service-routes.ts';

export function buildGatewayRouteConfig(snapshot: MeshSnapshot, scope: ProxyScope, name: string, port: number, servers: readonly GatewayServer[]): Record<string, unknown> {
  const vhosts = new Map<string, { domains: string[]; routes: Record<string, unknown>[]; requireTls: boolean }>();
  for (const gs of servers) {
    for (const { vs, hosts } of virtualServicesOn(snapshot, scope, gs)) {
      const ctx = { proxy: scope.proxy, port, gateways: [gs.key], vsGateways: boundGateways(vs), vsNamespace: vs.metadata.namespace };
      const routes: Record<string, unknown>[] = [];
      for (const { route, source } of expandedHttpRoutes(snapshot, vs)) {
        routes.push(...translateHttpRoute(route, routeEnv(snapshot, scope, { ...ctx, vsNamespace: source.metadata.namespace }, source)));
      }
      for (const host of hosts) {
        const vh = vhosts.get(host) ?? { domains: [host, `${host}:*`], routes: [], requireTls: false };
        vh.routes.push(...routes);
        if (gs.server.tls?.httpsRedirect) vh.requireTls = true;
        vhosts.set(host, vh);
      }
    }
  }
  const virtualHosts: Record<string, unknown>[] = [...vhosts].map(([host, vh]) => ({
    name: `${host}:${port}`,
    domains: vh.domains,
    routes: vh.routes,
    ...(vh.requireTls ? { require_tls: 'ALL' } : {}),
  }));
  if (virtualHosts.length === 0) {
    virtualHosts.push({ name: 'blackhole:' + port, domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, direct_response: { status: 404 } }] });
  }
  return { name, virtual_hosts: virtualHosts, validate_clusters: { value: false } };
}
