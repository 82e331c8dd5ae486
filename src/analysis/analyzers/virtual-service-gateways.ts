// Gateways a VirtualService binds to: each exists (IST0101) and serves the VirtualService's hosts (IST0132).
import type { VirtualService } from '../../config/resource.ts';
import type { Analyzer } from '../analyzer.ts';
import { hostsOverlap, splitGatewayHost } from '../hosts.ts';

export const virtualServiceGateways: Analyzer = {
  name: 'virtualservice.GatewayAnalyzer',
  codes: ['IST0101', 'IST0132'],
  analyze(ctx, report) {
    for (const vs of ctx.ofKind<VirtualService>('VirtualService')) {
      const ns = vs.metadata.namespace;
      for (const [g, ref] of (vs.spec.gateways ?? []).entries()) {
        if (ref === 'mesh') continue;
        const gw = ctx.gateway(ref, ns);
        if (!gw) {
          report({
            code: 'IST0101',
            resource: vs,
            path: ['spec', 'gateways', g],
            message: `Referenced gateway not found: "${ref}"`,
            fix: 'Name an existing Gateway as namespace/name (or name in the same namespace), or "mesh" for sidecars.',
          });
          continue;
        }
        // As Istio: warn when no host of the VirtualService is served by the Gateway.
        const hosts = vs.spec.hosts ?? [];
        const served = hosts.some((host) =>
          gw.spec.servers.some((server) =>
            server.hosts.some((entry) => {
              const { namespace, host: gwHost } = splitGatewayHost(entry);
              const nsOk = namespace === '*' || (namespace === '.' ? gw.metadata.namespace === ns : namespace === ns);
              return nsOk && hostsOverlap(gwHost, host);
            }),
          ),
        );
        if (!served && hosts.length > 0) {
          report({
            code: 'IST0132',
            resource: vs,
            path: ['spec', 'hosts'],
            message: `one or more host [${hosts.join(' ')}] defined in VirtualService ${ns}/${vs.metadata.name} not found in Gateway ${gw.metadata.namespace}/${gw.metadata.name}.`,
            fix: 'Add one of these hosts (or a wildcard covering it) to the Gateway\'s server hosts, or unbind the Gateway.',
          });
        }
      }
    }
  },
};
