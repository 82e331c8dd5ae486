// Host names as Istio reads them: short Kubernetes names resolve against a namespace, and a
// `*.example.com` pattern matches any host under that suffix.

export const clusterDomain = 'cluster.local';

/** `name.ns.svc.cluster.local`. */
export function serviceFqdn(name: string, namespace: string): string {
  return `${name}.${namespace}.svc.${clusterDomain}`;
}

/**
 * Resolves a host as written in a VirtualService/DestinationRule in `namespace`: as in Istio, only a
 * bare name is short for a service of that namespace; anything with a dot is taken as written.
 */
export function resolveHost(host: string, namespace: string): string {
  if (host === '*' || host.includes('.')) return host;
  return serviceFqdn(host, namespace);
}

/** True when `pattern` (exact, `*`, or `*.suffix`) covers `host`. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*' || pattern === host) return true;
  if (pattern.startsWith('*.')) {
    if (host.startsWith('*.')) return host.endsWith(pattern.slice(1));
    return host.endsWith(pattern.slice(1));
  }
  return false;
}

/** True when either host pattern covers the other (Gateway server hosts × VirtualService hosts). */
export function hostsIntersect(a: string, b: string): boolean {
  return hostMatches(a, b) || hostMatches(b, a);
}

/** The Kubernetes short forms of an FQDN seen from `fromNamespace` (`podinfo`, `podinfo.podinfo`, ...). */
export function hostAliases(fqdn: string, fromNamespace: string): string[] {
  const suffix = `.svc.${clusterDomain}`;
  if (!fqdn.endsWith(suffix)) return [fqdn];
  const [name, ns] = fqdn.slice(0, -suffix.length).split('.') as [string, string];
  const forms = [fqdn];
  if (ns === fromNamespace) forms.push(name);
  forms.push(`${name}.${ns}`, `${name}.${ns}.svc`);
  return forms;
}
