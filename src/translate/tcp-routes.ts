// VirtualService TCP and TLS routes for one service port: the first route whose match applies to
// this proxy decides the destination clusters (TLS routes also carry their SNI hosts).
import type { VirtualService } from '../config/resource.ts';
import type { RouteDestination } from '../config/types/networking.ts';
import type { ProxyScope } from '../model/proxy-scope.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import { routeEnv } from './route-env.ts';
import { matchApplies, type RouteContext } from './route-match.ts';
import { boundGateways } from './virtual-service-routes.ts';

export interface L4Target {
  cluster: string;
  weight?: number;
}

export interface TlsRouteChain {
  sniHosts: string[];
  targets: L4Target[];
}

function targetsOf(snapshot: MeshSnapshot, scope: ProxyScope, ctx: RouteContext, vs: VirtualService, route: readonly RouteDestination[] | undefined): L4Target[] {
  const env = routeEnv(snapshot, scope, ctx, vs);
  return (route ?? [])
    .filter((d, _i, all) => all.length === 1 || (d.weight ?? 0) > 0)
    .map((d) => (d.weight !== undefined && (route?.length ?? 0) > 1 ? { cluster: env.destination(d.destination).cluster, weight: d.weight } : { cluster: env.destination(d.destination).cluster }));
}

function contextFor(scope: ProxyScope, vs: VirtualService, port: number, gateways: readonly string[]): RouteContext {
  return { proxy: scope.proxy, port, gateways, vsGateways: boundGateways(vs), vsNamespace: vs.metadata.namespace };
}

/** The TCP route targets of `vs` on `port`, or undefined when no TCP route applies. */
export function tcpTargets(snapshot: MeshSnapshot, scope: ProxyScope, vs: VirtualService, port: number, gateways: readonly string[]): L4Target[] | undefined {
  const ctx = contextFor(scope, vs, port, gateways);
  for (const r of vs.spec.tcp ?? []) {
    const applies = r.match?.length ? r.match.some((m) => matchApplies(m, ctx, 'tcp')) : matchApplies({}, ctx, 'tcp');
    if (applies) {
      const t = targetsOf(snapshot, scope, ctx, vs, r.route);
      if (t.length > 0) return t;
    }
  }
  return undefined;
}

/** The TLS routes of `vs` on `port`, one chain per applicable match (SNI hosts from the match). */
export function tlsChains(snapshot: MeshSnapshot, scope: ProxyScope, vs: VirtualService, port: number, gateways: readonly string[]): TlsRouteChain[] {
  const ctx = contextFor(scope, vs, port, gateways);
  const out: TlsRouteChain[] = [];
  for (const r of vs.spec.tls ?? []) {
    const targets = targetsOf(snapshot, scope, ctx, vs, r.route);
    if (targets.length === 0) continue;
    for (const m of r.match) if (matchApplies(m, ctx, 'tcp')) out.push({ sniHosts: m.sniHosts, targets });
  }
  return out;
}
