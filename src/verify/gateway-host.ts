// What the checks read from the mesh's own config directories: the Host to address the ingress with (the
// first concrete host of an ingress Gateway, the seed's `podinfo.example.com`), and the canary's share
// of the split that host's VirtualService makes (the seed's 10, or what a promotion changed it to).
import { loadPaths } from '../config/load.ts';
import type { AnyResource, Gateway, VirtualService } from '../config/resource.ts';

/** The mesh's configuration, read once for both questions below (none without directories). */
export function meshResources(configDirs: readonly string[]): readonly AnyResource[] {
  return configDirs.length === 0 ? [] : loadPaths([...configDirs]).resources;
}

export function gatewayHost(resources: readonly AnyResource[]): string | undefined {
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
 * The canary subset's share, in percent, of the first rule of the VirtualService serving `host` that
 * every request without a header reaches (no match, or a catch-all `uri` prefix `/`): the split the
 * traffic check measures. A rule with one destination is all or nothing. Undefined where there is none.
 */
export function canaryPercent(resources: readonly AnyResource[], host: string): number | undefined {
  for (const r of resources) {
    if (r.kind !== 'VirtualService') continue;
    const vs = r as VirtualService;
    if (!(vs.spec.hosts ?? []).includes(host)) continue;
    for (const http of vs.spec.http ?? []) {
      const matches = http.match ?? [];
      if (matches.length > 0 && !matches.some(catchAll)) continue;
      const routes = http.route ?? [];
      if (routes.length === 0) return undefined;
      // One destination takes everything, weight or not.
      const weight = (d: (typeof routes)[number]) => (routes.length === 1 ? 100 : (d.weight ?? 0));
      const total = routes.reduce((sum, d) => sum + weight(d), 0);
      const canary = routes.filter((d) => d.destination?.subset === 'canary').reduce((sum, d) => sum + weight(d), 0);
      return total > 0 ? Math.round((canary / total) * 100) : undefined;
    }
  }
  return undefined;
}

/** A match every request without headers of its own meets: nothing but a `uri` prefix of `/`. */
function catchAll(m: object): boolean {
  return Object.entries(m).every(([k, v]) => k === 'name' || (k === 'uri' && (v as { prefix?: string }).prefix === '/'));
}
