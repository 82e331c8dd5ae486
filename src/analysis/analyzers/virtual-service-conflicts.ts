// IST0109: sidecars take one VirtualService per host; several mesh-bound VirtualServices for the
// same host are not merged, and which one wins is undefined.
import type { VirtualService } from '../../config/resource.ts';
import type { Analyzer } from '../analyzer.ts';
import { fqdn } from '../hosts.ts';

export const virtualServiceConflicts: Analyzer = {
  name: 'virtualservice.ConflictingMeshGatewayHostsAnalyzer',
  codes: ['IST0109'],
  analyze(ctx, report) {
    const byHost = new Map<string, { vs: VirtualService; index: number }[]>();
    for (const vs of ctx.ofKind<VirtualService>('VirtualService')) {
      const gateways = vs.spec.gateways ?? [];
      if (gateways.length > 0 && !gateways.includes('mesh')) continue;
      for (const [index, host] of (vs.spec.hosts ?? []).entries()) {
        const key = fqdn(host, vs.metadata.namespace);
        byHost.set(key, [...(byHost.get(key) ?? []), { vs, index }]);
      }
    }
    for (const [host, list] of byHost) {
      if (list.length < 2) continue;
      const names = list.map((e) => `${e.vs.metadata.namespace}/${e.vs.metadata.name}`).join(',');
      for (const { vs, index } of list) {
        report({
          code: 'IST0109',
          resource: vs,
          path: ['spec', 'hosts', index],
          message: `The VirtualServices ${names} associated with mesh gateway define the same host ${host} which can lead to undefined behavior`,
          fix: 'Merge the routes for this host into one VirtualService.',
        });
      }
    }
  },
};
