// Destinations of VirtualService routes: the host exists (IST0101), the subset is defined by a
// DestinationRule (IST0101), and a multi-port service is given a port (IST0112).
import type { VirtualService } from '../../config/resource.ts';
import type { Destination } from '../../config/types/networking.ts';
import type { Analyzer, FieldPath, Report } from '../analyzer.ts';
import type { AnalysisContext } from '../context.ts';
import { fqdn } from '../hosts.ts';

function* destinations(vs: VirtualService): Generator<{ destination: Destination; path: FieldPath; mirror: boolean }> {
  for (const [i, rule] of (vs.spec.http ?? []).entries()) {
    for (const [j, rd] of (rule.route ?? []).entries()) yield { destination: rd.destination, path: ['spec', 'http', i, 'route', j, 'destination'], mirror: false };
    if (rule.mirror) yield { destination: rule.mirror, path: ['spec', 'http', i, 'mirror'], mirror: true };
    for (const [j, m] of (rule.mirrors ?? []).entries()) yield { destination: m.destination, path: ['spec', 'http', i, 'mirrors', j, 'destination'], mirror: true };
  }
  for (const section of ['tcp', 'tls'] as const) {
    for (const [i, rule] of (vs.spec[section] ?? []).entries()) {
      for (const [j, rd] of (rule.route ?? []).entries()) yield { destination: rd.destination, path: ['spec', section, i, 'route', j, 'destination'], mirror: false };
    }
  }
}

function check(ctx: AnalysisContext, vs: VirtualService, report: Report): void {
  for (const { destination, path } of destinations(vs)) {
    const host = fqdn(destination.host, vs.metadata.namespace);
    const target = ctx.lookupHost(host);
    if (!target) {
      report({
        code: 'IST0101',
        resource: vs,
        path: [...path, 'host'],
        message: `Referenced host not found: "${destination.host}"`,
        fix: 'Name an existing Service (short name, or name.namespace.svc.cluster.local) or declare the host with a ServiceEntry.',
      });
      continue;
    }
    if (destination.subset !== undefined) {
      const defined = ctx.destinationRulesFor(host).some((dr) => (dr.spec.subsets ?? []).some((s) => s.name === destination.subset));
      if (!defined) {
        report({
          code: 'IST0101',
          resource: vs,
          path: [...path, 'subset'],
          message: `Referenced host+subset in destinationrule not found: "${host}+${destination.subset}"`,
          fix: `Define subset "${destination.subset}" in a DestinationRule for ${host}, or remove the subset.`,
        });
      }
    }
    const ports = target.kind === 'Service' ? (target.spec.ports ?? []) : (target.spec.ports ?? []);
    if (ports.length > 1 && destination.port === undefined) {
      report({
        code: 'IST0112',
        resource: vs,
        path,
        message: `This VirtualService routes to ${host}, which has ${ports.length} ports, without naming one`,
        fix: `Add port.number (one of ${ports.map((p) => ('port' in p ? p.port : p.number)).join(', ')}) to the destination.`,
      });
    }
  }
}

export const virtualServiceDestinations: Analyzer = {
  name: 'virtualservice.DestinationHostAnalyzer',
  codes: ['IST0101', 'IST0112'],
  analyze(ctx, report) {
    for (const vs of ctx.ofKind<VirtualService>('VirtualService')) check(ctx, vs, report);
  },
};
