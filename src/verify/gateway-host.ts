// What the checks read from the mesh's own config directories: the Host to address the ingress with (the
// first concrete host of an ingress Gateway, the seed's `podinfo.example.com`), and the canary's share
// of the split that host's VirtualService makes (the seed's 10, or what a promotion changed it to).
import { loadPaths } from '../config/load.ts';
import type { Gateway, VirtualService } from '../config/resource.ts';

export function gatewayHost(configDirs: readonly string[]): string | undefined {
  if (configDirs.length === 0) return undefined;
  const { resources } = loadPaths([...configDirs]);
  for (const r of resources) {
    if (r.kind !== 'Gateway') continue;
    for (const s of (r as Gateway).spec.servers ?? []) {
      for (const h of s.hosts ?? []) {
        const host = h.includes('/') ? h.slice(h.indexOf('/') + 1) : h;
        if (host && !host.includes('*')) return host;
      }
    }
  }
  return undefined;
}

/**
 * The canary subset's share, in percent, of the first unconditional weighted route of the
 * VirtualService serving `host`: the split the traffic check measures. Undefined where there is none.
 */
export function canaryPercent(configDirs: readonly string[], host: string): number | undefined {
  if (configDirs.length === 0) return undefined;
  const { resources } = loadPaths([...configDirs]);
  for (const r of resources) {
    if (r.kind !== 'VirtualService') continue;
    const vs = r as VirtualService;
    if (!(vs.spec.hosts ?? []).includes(host)) continue;
    for (const http of vs.spec.http ?? []) {
      if ((http.match ?? []).length > 0 || (http.route ?? []).length < 2) continue;
      const routes = http.route ?? [];
      const total = routes.reduce((sum, d) => sum + (d.weight ?? 0), 0);
      const canary = routes.filter((d) => d.destination?.subset === 'canary').reduce((sum, d) => sum + (d.weight ?? 0), 0);
      return total > 0 ? Math.round((canary / total) * 100) : undefined;
    }
  }
  return undefined;
}
