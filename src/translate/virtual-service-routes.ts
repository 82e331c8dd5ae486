// Which VirtualService serves a host for a proxy, and its HTTP routes with delegates expanded
// (a delegate's match clauses are ANDed with the root's, as Istio merges them).
import type { VirtualService } from '../config/resource.ts';
import type { HTTPMatchRequest, HTTPRoute } from '../config/types/networking.ts';
import { hostMatches } from '../model/host.ts';
import type { ProxyScope } from '../model/proxy-scope.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import { qualifyGateway } from './route-match.ts';

/** The gateways a VirtualService binds to, as `namespace/name` or `mesh` (none listed = mesh). */
export function boundGateways(vs: VirtualService): string[] {
  const gws = vs.spec.gateways ?? [];
  return gws.length === 0 ? ['mesh'] : gws.map((g) => qualifyGateway(g, vs.metadata.namespace));
}

/**
 * The VirtualService for `host` among those bound to one of `gateways` and exported to the proxy:
 * an exact host beats a wildcard; among equals the first by name, then namespace (Istio takes the oldest,
 * and breaks ties of the creation second by name then namespace).
 */
export function virtualServiceFor(
  snapshot: MeshSnapshot,
  scope: ProxyScope,
  host: string,
  gateways: readonly string[],
): VirtualService | undefined {
  const usable = (vs: VirtualService) =>
    scope.exported(vs.spec.exportTo, vs.metadata.namespace) && boundGateways(vs).some((g) => gateways.includes(g));
  const exact = snapshot.virtualServicesByHost.get(host)?.find(usable);
  if (exact) return exact;
  // Wildcards are sorted longest first: the most specific pattern wins.
  for (const pattern of snapshot.virtualServiceWildcards) {
    if (!hostMatches(pattern, host)) continue;
    const vs = snapshot.virtualServicesByHost.get(pattern)?.find(usable);
    if (vs) return vs;
  }
  return undefined;
}

/** HTTP routes of a VirtualService with delegates replaced by their (merged) routes. */
export function expandedHttpRoutes(snapshot: MeshSnapshot, vs: VirtualService): { route: HTTPRoute; source: VirtualService }[] {
  const out: { route: HTTPRoute; source: VirtualService }[] = [];
  for (const route of vs.spec.http ?? []) {
    if (!route.delegate) {
      out.push({ route, source: vs });
      continue;
    }
    const key = `${route.delegate.namespace ?? vs.metadata.namespace}/${route.delegate.name}`;
    const delegate = snapshot.virtualServiceByKey.get(key);
    if (!delegate || (delegate.spec.hosts ?? []).length > 0) continue;
    for (const child of delegate.spec.http ?? []) {
      if (child.delegate) continue;
      const merged = mergeMatches(route.match, child.match);
      if (merged === null) continue;
      out.push({ route: merged.length > 0 ? { ...child, match: merged } : { ...child, match: [] }, source: delegate });
    }
  }
  return out;
}

/** Root × delegate match clauses, ANDed; null when they cannot both hold. */
function mergeMatches(root: HTTPMatchRequest[] | undefined, child: HTTPMatchRequest[] | undefined): HTTPMatchRequest[] | null {
  if (!root?.length) return child ?? [];
  if (!child?.length) return root;
  const out: HTTPMatchRequest[] = [];
  for (const r of root) {
    for (const c of child) {
      const uri = mergeUri(r, c);
      if (uri === null) continue;
      const merged: HTTPMatchRequest = { ...r, ...c, headers: { ...r.headers, ...c.headers }, queryParams: { ...r.queryParams, ...c.queryParams } };
      if (uri) merged.uri = uri;
      out.push(merged);
    }
  }
  return out.length > 0 ? out : null;
}

function mergeUri(r: HTTPMatchRequest, c: HTTPMatchRequest): HTTPMatchRequest['uri'] | null | undefined {
  if (!c.uri) return r.uri;
  if (!r.uri || r.uri.prefix === undefined) return c.uri;
  const path = c.uri.exact ?? c.uri.prefix;
  // A delegate may only narrow the root's prefix.
  if (path !== undefined && !path.startsWith(r.uri.prefix)) return null;
  return c.uri;
}
