// A sidecar's outbound RouteConfigurations, one per HTTP port (named by the port): a virtual host
// `host:port` per visible service with every domain form Istio emits, routes from VirtualServices.
import type { VirtualService } from '../config/resource.ts';
import { hostAliases } from '../model/host.ts';
import type { ProxyScope } from '../model/proxy-scope.ts';
import { isHttp } from '../model/protocol.ts';
import type { MeshService } from '../model/service.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import { outboundClusterName } from './clusters.ts';
import { type RouteEnv, retryPolicy, translateHttpRoute } from './http-route.ts';
import { traceOperation } from './route-decorator.ts';
import { routeEnv } from './route-env.ts';
import type { RouteContext } from './route-match.ts';
import { expandedHttpRoutes } from '../model/virtual-service-merge.ts';
import { boundGateways, virtualServiceFor } from './virtual-service-routes.ts';

/** The HTTP ports of the visible services, ascending. */
export function httpPorts(scope: ProxyScope): number[] {
  const ports = new Set<number>();
  for (const s of scope.services) for (const p of s.ports) if (isHttp(p.protocol) || p.protocol === 'auto') ports.add(p.port);
  return [...ports].sort((a, b) => a - b);
}

export function buildSidecarRouteConfig(snapshot: MeshSnapshot, scope: ProxyScope, port: number): Record<string, unknown> {
  const used = new Set<string>();
  const virtualHosts: Record<string, unknown>[] = [];
  for (const service of scope.routeServices(port)) {
    const sp = service.ports.find((p) => p.port === port);
    if (!sp || !(isHttp(sp.protocol) || sp.protocol === 'auto')) continue;
    const domains = domainsFor(service, port, scope.proxy.namespace).filter((d) => !used.has(d));
    if (domains.length === 0) continue;
    for (const d of domains) used.add(d);
    virtualHosts.push({ name: `${service.hostname}:${port}`, domains, routes: routesFor(snapshot, scope, service, port), include_request_attempt_count: snapshot.mesh.proxyHeaders.attemptCount });
  }
  virtualHosts.push(catchAll(scope));
  return { name: String(port), virtual_hosts: virtualHosts, validate_clusters: { value: false }, ignore_port_in_host_matching: true };
}

/**
 * Every name a client may use for a service: short forms in its namespace, FQDN, addresses, each with and
 * without `:port`. A CIDR address stays as written (no Host header names it, but Istio lists it too),
 * except a single-address one, which Istio's ServiceEntry conversion turns into the plain address.
 */
export function domainsFor(service: MeshService, port: number, fromNamespace: string): string[] {
  const names = [...hostAliases(service.hostname, fromNamespace), ...service.addresses.map(singleAddress)];
  return names.flatMap((n) => [n, `${n}:${port}`]);
}

/** `10.0.0.1/32` (or an IPv6 `/128`) → `10.0.0.1`; any other address as it is. */
function singleAddress(address: string): string {
  const [ip, len] = address.split('/');
  return len !== undefined && ip !== undefined && Number(len) === (ip.includes(':') ? 128 : 32) ? ip : address;
}

function routesFor(snapshot: MeshSnapshot, scope: ProxyScope, service: MeshService, port: number): Record<string, unknown>[] {
  const vs = virtualServiceFor(snapshot, scope, service.hostname, ['mesh'], port);
  const ctx: RouteContext = { proxy: scope.proxy, port, gateways: ['mesh'], vsGateways: vs ? boundGateways(vs) : ['mesh'], vsNamespace: vs?.metadata.namespace ?? service.namespace };
  if (vs) {
    const routes: Record<string, unknown>[] = [];
    // One environment per source VirtualService (the root, or a delegate), not one per route.
    let env: RouteEnv | undefined;
    let envSource: VirtualService | undefined;
    for (const { route, source } of expandedHttpRoutes(snapshot, vs)) {
      if (!env || envSource !== source) {
        env = routeEnv(snapshot, scope, { ...ctx, vsNamespace: source.metadata.namespace }, source, vs);
        envSource = source;
      }
      for (const r of translateHttpRoute(route, env)) routes.push(r);
    }
    if (routes.length > 0) return routes;
  }
  const env = routeEnv(snapshot, scope, ctx, undefined);
  const target = env.destination({ host: service.hostname, port: { number: port } });
  // Istio's default outbound route keeps previous_hosts even when its DestinationRule hashes
  // (BuildDefaultHTTPOutboundRoute converts its policy without the hash).
  const retry = retryPolicy(undefined, snapshot.mesh, false);
  return [
    {
      name: 'default',
      match: { prefix: '/' },
      route: {
        cluster: outboundClusterName(port, '', service.hostname),
        timeout: { seconds: 0 },
        max_grpc_timeout: { seconds: 0 },
        ...(retry ? { retry_policy: retry } : {}),
        ...(target.hashPolicy ? { hash_policy: target.hashPolicy } : {}),
        upgrade_configs: [{ upgrade_type: 'websocket' }],
      },
      decorator: traceOperation(service.hostname, port),
    },
  ];
}

/**
 * Where a sidecar sends what no service matches, over TCP and HTTP alike: BlackHoleCluster under
 * REGISTRY_ONLY; under ALLOW_ANY the Sidecar's egressProxy if it names one, else PassthroughCluster.
 * The egress proxy's cluster is Istio's GetDestinationCluster with no service, by the port validation
 * requires of it.
 */
export function catchAllCluster(scope: ProxyScope): string {
  if (scope.outboundTrafficPolicy === 'REGISTRY_ONLY') return 'BlackHoleCluster';
  const egress = scope.egressProxy;
  return egress?.port ? outboundClusterName(egress.port.number, egress.subset ?? '', egress.host) : 'PassthroughCluster';
}

function catchAll(scope: ProxyScope): Record<string, unknown> {
  if (scope.outboundTrafficPolicy === 'REGISTRY_ONLY') {
    return { name: 'block_all', domains: ['*'], routes: [{ name: 'block_all', match: { prefix: '/' }, direct_response: { status: 502 } }] };
  }
  return {
    name: 'allow_any',
    domains: ['*'],
    routes: [{ name: 'allow_any', match: { prefix: '/' }, route: { cluster: catchAllCluster(scope), timeout: { seconds: 0 } } }],
  };
}
