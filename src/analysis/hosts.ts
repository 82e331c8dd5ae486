// Host names as Istio resolves them in configuration: short names are relative to the resource's
// namespace, names with a dot are taken as written; `*.example.com` wildcards match by suffix.

export function fqdn(host: string, namespace: string, domain = 'cluster.local'): string {
  return host.includes('.') || host.startsWith('*') ? host : `${host}.${namespace}.svc.${domain}`;
}

/** Whether `pattern` (possibly `*` or `*.suffix`) covers `host` (itself possibly a wildcard). */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*' || pattern === host) return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return false;
}

/** Whether two host patterns can name the same host. */
export function hostsOverlap(a: string, b: string): boolean {
  return hostMatches(a, b) || hostMatches(b, a);
}

/** Gateway server hosts are `[namespace/]host`; the namespace part (`*`, `.`, name) limits who may bind. */
export function splitGatewayHost(entry: string): { namespace: string; host: string } {
  const slash = entry.indexOf('/');
  return slash < 0 ? { namespace: '*', host: entry } : { namespace: entry.slice(0, slash), host: entry.slice(slash + 1) };
}

