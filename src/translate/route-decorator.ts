// A route's Envoy `decorator`: the operation its requests' spans are named by, as pilot sets it
// (GetRouteOperation and telemetry.TraceOperation in pilot/pkg/networking/core/route/route.go and
// pilot/pkg/networking/telemetry/telemetry.go).

/** `host:port/*`: the operation of a default route (outbound per service, inbound per port). */
export function traceOperation(host: string, port: number): Record<string, unknown> {
  return { operation: `${host}:${port}/*` };
}

/**
 * A VirtualService route's operation: `host:port` of its one destination cluster, or, when the route
 * has no single destination (weighted clusters, redirect, direct response), `vsName:listenerPort`;
 * then the path its match names (`/api*` for a prefix, the path, the regex; `/*` otherwise).
 */
export function routeDecorator(match: Record<string, unknown>, cluster: string | undefined, vsName: string, port: number): Record<string, unknown> {
  const prefix = match['prefix'];
  const exact = match['path'];
  const regex = (match['safe_regex'] as { regex?: unknown } | undefined)?.regex;
  const path = typeof prefix === 'string' ? `${prefix}*` : typeof exact === 'string' ? exact : typeof regex === 'string' ? regex : '/*';
  const subset = cluster === undefined ? undefined : parseSubsetKey(cluster);
  return { operation: subset ? `${subset.host}:${subset.port}${path}` : `${vsName}:${port}${path}` };
}

/** `direction|port|subset|host` (pilot's IsValidSubsetKey: exactly three bars), else undefined. */
function parseSubsetKey(cluster: string): { host: string; port: number } | undefined {
  const parts = cluster.split('|');
  if (parts.length !== 4) return undefined;
  // pilot's ParseSubsetKey takes a port that is not a number as 0 (strconv.Atoi's error ignored).
  const port = parts[1] ?? '';
  return { host: parts[3] ?? '', port: /^[+-]?\d+$/.test(port) ? Number(port) : 0 };
}
