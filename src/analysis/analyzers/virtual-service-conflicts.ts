// IST0109: sidecars take one VirtualService per host; several mesh-bound VirtualServices for the
// same host, visible in the same namespace (exportTo), are not merged, and which one wins is undefined.
import type { VirtualService } from '../../config/resource.ts';
import type { Analyzer } from '../analyzer.ts';
import { fqdn, hostsOverlap } from '../hosts.ts';

interface Entry {
  vs: VirtualService;
  index: number;
}

/** `scope/host` → the VirtualServices bound to the mesh that define it, where the scope is `*` for
 * one exported everywhere, else each namespace its exportTo names (initMeshGatewayHosts). */
function meshHosts(vss: readonly VirtualService[]): Map<string, Entry[]> {
  const byHost = new Map<string, Entry[]>();
  for (const vs of vss) {
    const gateways = vs.spec.gateways ?? [];
    if (gateways.length > 0 && !gateways.includes('mesh')) continue;
    const ns = vs.metadata.namespace;
    const exportTo = vs.spec.exportTo ?? [];
    const scopes = exportTo.length === 0 || exportTo.includes('*') ? ['*'] : [...new Set(exportTo.map((e) => (e === '.' ? ns : e)))];
    for (const scope of scopes) {
      for (const [index, host] of (vs.spec.hosts ?? []).entries()) {
        const key = `${scope}/${fqdn(host, ns)}`;
        byHost.set(key, [...(byHost.get(key) ?? []), { vs, index }]);
      }
    }
  }
  return byHost;
}

export const virtualServiceConflicts: Analyzer = {
  name: 'virtualservice.ConflictingMeshGatewayHostsAnalyzer',
  codes: ['IST0109'],
  analyze(ctx, report) {
    const byHost = meshHosts(ctx.ofKind<VirtualService>('VirtualService'));
    // As Istio: a VirtualService is reported once, for the first host it conflicts on.
    const reported = new Set<VirtualService>();
    for (const [scopedHost, own] of byHost) {
      const [scope = '', host = ''] = scopedHost.split('/', 2);
      // A host seen in one namespace also collides with those exported everywhere that overlap it.
      const list =
        scope === '*'
          ? own
          : [...own, ...[...byHost].filter(([k]) => k.startsWith('*/') && hostsOverlap(host, k.slice(2))).flatMap(([, l]) => l)];
      if (list.length < 2) continue;
      const names = list.map((e) => `${e.vs.metadata.namespace}/${e.vs.metadata.name}`).join(',');
      for (const { vs, index } of list) {
        if (reported.has(vs)) continue;
        reported.add(vs);
        report({
          code: 'IST0109',
          resource: vs,
          path: ['spec', 'hosts', index],
          message: `The VirtualServices ${names} associated with mesh gateway define the same host ${scopedHost} which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.`,
          fix: 'Merge the routes for this host into one VirtualService, or narrow exportTo so that no namespace sees both.',
        });
      }
    }
  },
};
