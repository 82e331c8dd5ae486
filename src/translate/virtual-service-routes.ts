// Which VirtualService serves a host for a proxy (its HTTP routes with delegates merged in are
// src/model/virtual-service-merge.ts).
import type { VirtualService } from '../config/resource.ts';
import { ROUTE_SEMANTICS_ANNOTATION } from '../model/gateway-api/gateways.ts';
import { hostMatches } from '../model/host.ts';
import { exportToOrDefault } from '../model/mesh-config.ts';
import type { ProxyScope } from '../model/proxy-scope.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import { qualifyGateway } from '../model/virtual-service-merge.ts';

/** The gateways a VirtualService binds to, as `namespace/name` or `mesh` (none listed = mesh). */
export function boundGateways(vs: VirtualService): string[] {
  const gws = vs.spec.gateways ?? [];
  return gws.length === 0 ? ['mesh'] : gws.map((g) => qualifyGateway(g, vs.metadata.namespace));
}

/**
 * The VirtualService for `host` among those bound to one of `gateways`, visible to the proxy and, for
 * the mesh, imported by its Sidecar egress listener for `port` (any listener when omitted): an exact host
 * beats a wildcard; among equals Istio's order (SelectVirtualServices): those private to the proxy's
 * namespace, then those exported to it by name, then public ones, a Gateway API route of the proxy's
 * namespace first within each; then the oldest, ties of the creation second by name then namespace.
 */
export function virtualServiceFor(
  snapshot: MeshSnapshot,
  scope: ProxyScope,
  host: string,
  gateways: readonly string[],
  port?: number,
): VirtualService | undefined {
  const mesh = gateways.includes('mesh');
  const usable = (vs: VirtualService) =>
    scope.visible(vs) && boundGateways(vs).some((g) => gateways.includes(g)) && (!mesh || scope.importsVirtualService(vs, port));
  const exact = first(snapshot, scope, snapshot.virtualServicesByHost.get(host), usable);
  if (exact) return exact;
  // Wildcards are sorted longest first: the most specific pattern wins.
  for (const pattern of snapshot.virtualServiceWildcards) {
    if (!hostMatches(pattern, host)) continue;
    const vs = first(snapshot, scope, snapshot.virtualServicesByHost.get(pattern), usable);
    if (vs) return vs;
  }
  return undefined;
}

/** The first usable VirtualService of `list` (oldest first) in Istio's order of visibility groups. */
function first(snapshot: MeshSnapshot, scope: ProxyScope, list: readonly VirtualService[] | undefined, usable: (vs: VirtualService) => boolean): VirtualService | undefined {
  let best: VirtualService | undefined;
  let bestRank = Number.POSITIVE_INFINITY;
  for (const vs of list ?? []) {
    if (!usable(vs)) continue;
    const rank = visibilityRank(snapshot, vs, scope.proxy.namespace, 'mesh');
    if (rank < bestRank) {
      best = vs;
      bestRank = rank;
    }
  }
  return best;
}

/**
 * Where a VirtualService visible to a proxy in `namespace` comes in Istio's order (lower first; ties keep
 * creation order): private to the namespace, then exported to it by name, then public. A Gateway API
 * route of the proxy's namespace goes first within each group for a sidecar (SelectVirtualServices),
 * within the public group for a gateway (VirtualServicesForGateway).
 */
export function visibilityRank(snapshot: MeshSnapshot, vs: VirtualService, namespace: string, proxy: 'mesh' | 'gateway'): number {
  const exportTo = exportToOrDefault(vs.spec.exportTo, 'virtualService', snapshot.mesh);
  const own = vs.metadata.namespace === namespace;
  const group = exportTo.includes('*') ? 2 : own && exportTo.some((t) => t === '.' || t === namespace) ? 0 : 1;
  const routeFirst = own && vs.metadata.annotations[ROUTE_SEMANTICS_ANNOTATION] === 'gateway' && (proxy === 'mesh' || group === 2);
  return group * 2 + (routeFirst ? 0 : 1);
}
