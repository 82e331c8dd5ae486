// A VirtualService's HTTP routes with its delegates merged in, as Istio's VirtualService controller
// merges them (pilot/pkg/model/virtualservice.go): what translation routes and a Sidecar imports.
import type { VirtualService } from '../config/resource.ts';
import type { HTTPMatchRequest, HTTPRoute, StringMatch } from '../config/types/networking.ts';
import { resolveHost } from './host.ts';
import { exportToOrDefault } from './mesh-config.ts';
import type { MeshSnapshot } from './snapshot.ts';

/**
 * A gateway reference as `namespace/name` (Istio's resolveGatewayName): `name` and `./name` are in the
 * VirtualService's namespace, the legacy `name.ns[.svc.cluster.local]` in `ns`; `mesh` stays `mesh`.
 */
export function qualifyGateway(gateway: string, vsNamespace: string): string {
  if (gateway === 'mesh') return gateway;
  const slash = gateway.indexOf('/');
  if (slash !== -1) return gateway.slice(0, slash) === '.' ? `${vsNamespace}/${gateway.slice(slash + 1)}` : gateway;
  const dot = gateway.indexOf('.');
  if (dot === -1) return `${vsNamespace}/${gateway}`;
  const end = gateway.indexOf('.', dot + 1);
  return `${gateway.slice(dot + 1, end === -1 ? undefined : end)}/${gateway.slice(0, dot)}`;
}

/**
 * HTTP routes of a VirtualService with each delegating route replaced by the delegate's routes merged
 * into it (Istio's MergeHTTPRoutes); `source` is the VirtualService a route was written in.
 */
export function expandedHttpRoutes(snapshot: MeshSnapshot, vs: VirtualService): { route: HTTPRoute; source: VirtualService }[] {
  const out: { route: HTTPRoute; source: VirtualService }[] = [];
  for (const route of vs.spec.http ?? []) {
    if (!route.delegate) {
      out.push({ route, source: vs });
      continue;
    }
    const delegate = delegateOf(snapshot, vs, route.delegate);
    if (!delegate) continue;
    const root = resolvedIn(route, vs.metadata.namespace);
    for (const child of delegate.spec.http ?? []) {
      if (child.delegate) continue;
      const merged = mergeHttpRoute(root, resolvedIn(child, delegate.metadata.namespace));
      if (merged) out.push({ route: merged, source: delegate });
    }
  }
  return out;
}

/**
 * The delegate VirtualService a root's HTTP route names, as Istio merges it (mergeVirtualServicesIfNeeded):
 * one without hosts, exported (its exportTo, else the mesh default, `.` = its own namespace) to the root's
 * namespace; otherwise the route is dropped.
 */
export function delegateOf(snapshot: MeshSnapshot, root: VirtualService, delegate: { name: string; namespace?: string }): VirtualService | undefined {
  const ns = delegate.namespace || root.metadata.namespace;
  const vs = snapshot.virtualServiceByKey.get(`${ns}/${delegate.name}`);
  if (!vs || (vs.spec.hosts ?? []).length > 0) return undefined;
  const exportTo = exportToOrDefault(vs.spec.exportTo, 'virtualService', snapshot.mesh);
  const rootNs = root.metadata.namespace;
  return exportTo.some((t) => t === '*' || t === rootNs || (t === '.' && ns === rootNs)) ? vs : undefined;
}

/**
 * A route with its match gateways as `namespace/name` and its mirror hosts as FQDNs. Istio resolves each
 * VirtualService's short names in its own namespace before merging; the merged route is translated in
 * the delegate's, so what it takes from the root must already be resolved.
 */
function resolvedIn(route: HTTPRoute, namespace: string): HTTPRoute {
  const out: HTTPRoute = { ...route };
  if (route.match) out.match = route.match.map((m) => (m.gateways ? { ...m, gateways: m.gateways.map((g) => qualifyGateway(g, namespace)) } : m));
  if (route.mirror) out.mirror = { ...route.mirror, host: resolveHost(route.mirror.host, namespace) };
  if (route.mirrors) out.mirrors = route.mirrors.map((m) => ({ ...m, destination: { ...m.destination, host: resolveHost(m.destination.host, namespace) } }));
  return out;
}

// What a delegate route leaves unset it takes from the root (Istio's mergeHTTPRoute); never its redirect.
const INHERITED = ['rewrite', 'directResponse', 'timeout', 'retries', 'fault', 'mirror', 'mirrorPercent', 'mirrorPercentage', 'corsPolicy', 'mirrors', 'headers'] as const;

/** The delegate route `child` under the root route, or undefined when a clause of it fits no root clause. */
function mergeHttpRoute(root: HTTPRoute, child: HTTPRoute): HTTPRoute | undefined {
  const match = mergeMatches(root.match, child.match);
  if (match === null) return undefined;
  const out: HTTPRoute = { ...child };
  if (match) out.match = match;
  const name = joinNames(root.name, child.name);
  if (name !== undefined) out.name = name;
  for (const key of INHERITED) inherit(out, root, key);
  return out;
}

/**
 * Istio's mergeHTTPMatchRequests: no clauses on one side takes the other's; else each delegate clause
 * merges with every root clause it does not conflict with (delegate clause major), and a delegate
 * clause that fits none drops the route (null).
 */
function mergeMatches(root: HTTPMatchRequest[] | undefined, child: HTTPMatchRequest[] | undefined): HTTPMatchRequest[] | undefined | null {
  if (!root?.length) return child;
  if (!child?.length) return root;
  const out: HTTPMatchRequest[] = [];
  for (const c of child) {
    const fits = root.filter((r) => !hasConflict(r, c));
    if (fits.length === 0) return null;
    for (const r of fits) out.push(mergeMatch(r, c));
  }
  return out;
}

/** Istio's mergeHTTPMatchRequest: the delegate clause, its unset fields from the root's, maps merged (the delegate's entries win). */
function mergeMatch(r: HTTPMatchRequest, c: HTTPMatchRequest): HTTPMatchRequest {
  const out: HTTPMatchRequest = { ...c };
  const name = joinNames(r.name, c.name);
  if (name !== undefined) out.name = name;
  for (const key of ['uri', 'scheme', 'method', 'authority'] as const) inherit(out, r, key);
  for (const key of ['headers', 'withoutHeaders', 'queryParams', 'sourceLabels'] as const) {
    const merged = { ...r[key], ...c[key] };
    if (Object.keys(merged).length > 0) out[key] = merged;
  }
  // Go's zero values: port 0, an empty sourceNamespace, statPrefix or gateway list count as unset.
  if (!c.port && r.port) out.port = r.port;
  if (!c.sourceNamespace && r.sourceNamespace) out.sourceNamespace = r.sourceNamespace;
  if (!c.statPrefix && r.statPrefix) out.statPrefix = r.statPrefix;
  if (!c.gateways?.length && r.gateways) out.gateways = r.gateways;
  return out;
}

/** Istio's hasConflict: whether delegate clause `c` cannot narrow root clause `r`. */
function hasConflict(r: HTTPMatchRequest, c: HTTPMatchRequest): boolean {
  for (const key of ['uri', 'scheme', 'method', 'authority'] as const) if (stringMatchConflict(r[key], c[key])) return true;
  for (const key of ['headers', 'withoutHeaders', 'queryParams'] as const) {
    for (const [name, leaf] of Object.entries(c[key] ?? {})) if (stringMatchConflict(own(r[key], name), leaf)) return true;
  }
  if ((r.ignoreUriCase ?? false) !== (c.ignoreUriCase ?? false)) return true;
  if (r.port && c.port && r.port !== c.port) return true;
  if (r.sourceNamespace && c.sourceNamespace !== r.sourceNamespace) return true;
  for (const [label, value] of Object.entries(c.sourceLabels ?? {})) {
    const rootValue = own(r.sourceLabels, label);
    if (rootValue !== undefined && rootValue !== value) return true;
  }
  // The root's gateways must cover the delegate's.
  const rootGateways = r.gateways ?? [];
  const gateways = c.gateways ?? [];
  if (rootGateways.length > 0 && gateways.length > 0) {
    if (rootGateways.length < gateways.length || gateways.some((g) => !rootGateways.includes(g))) return true;
  }
  return false;
}

/**
 * Istio's stringMatchConflict: none when either side is unset; else a regex on either side conflicts, a
 * root exact needs the same exact, a root prefix an exact or prefix under it; anything else conflicts.
 */
function stringMatchConflict(root: StringMatch | undefined, leaf: StringMatch | undefined): boolean {
  if (!root || !leaf) return false;
  if (root.regex || leaf.regex) return true;
  if (root.exact) return Boolean(leaf.prefix) || leaf.exact !== root.exact;
  if (root.prefix) {
    const path = leaf.prefix || leaf.exact;
    return !path?.startsWith(root.prefix);
  }
  return true;
}

/** Istio's `root-child` naming: either alone when the other is unset. */
function joinNames(root: string | undefined, child: string | undefined): string | undefined {
  return child ? (root ? `${root}-${child}` : child) : root || undefined;
}

function inherit<T, K extends keyof T>(to: T, from: T, key: K): void {
  if (to[key] === undefined && from[key] !== undefined) to[key] = from[key];
}

function own<V>(map: Record<string, V> | undefined, key: string): V | undefined {
  return map && Object.hasOwn(map, key) ? map[key] : undefined;
}
