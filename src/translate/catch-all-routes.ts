// Istio's SortVHostRoutes for gateway virtual hosts: routes merged from several VirtualServices (or one)
// keep their order, except catch-all routes, which move to the end so they never hide a later match.

/**
 * Prefix `/` (or path_separated_prefix `/`, or regex `.*`, which older Istio spelled `*`) with no header,
 * query or metadata match.
 */
function isCatchAllRoute(route: Record<string, unknown>): boolean {
  const m = (route['match'] ?? {}) as Record<string, unknown>;
  const regex = (m['safe_regex'] as { regex?: string } | undefined)?.regex;
  const all = m['prefix'] === '/' || m['path_separated_prefix'] === '/' || regex === '.*' || regex === '*';
  const none = (k: string) => !Array.isArray(m[k]) || (m[k] as unknown[]).length === 0;
  return all && none('headers') && none('query_parameters') && none('dynamic_metadata');
}

/**
 * One VirtualService's routes as Istio builds them (BuildHTTPRoutesForVirtualService): up to and
 * including its first catch-all; what follows could never match and is left out, so that moving the
 * catch-all to the end of a merged virtual host does not bring it back.
 */
export function throughFirstCatchAll(routes: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  const i = routes.findIndex(isCatchAllRoute);
  return i < 0 ? [...routes] : routes.slice(0, i + 1);
}

/** The routes with every catch-all route moved to the end, both groups in their order. */
export function sortCatchAllLast(routes: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  return [...routes.filter((r) => !isCatchAllRoute(r)), ...routes.filter(isCatchAllRoute)];
}
