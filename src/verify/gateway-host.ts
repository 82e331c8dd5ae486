// The Host to address the ingress with: the first concrete host of an ingress Gateway in the mesh's
// own config directories (the seed's `podinfo.example.com`).
import { loadPaths } from '../config/load.ts';
import type { Gateway } from '../config/resource.ts';

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
