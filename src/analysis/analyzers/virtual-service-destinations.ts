// Destinations of VirtualService routes: the host exists where the VirtualService sees it and has the
// port named (IST0101), the subset is defined by a DestinationRule (IST0101), a multi-port service is
// given a port (IST0112), and gateway routes are not expected to follow mesh subsets (IST0140).
import type { DestinationRule, VirtualService } from '../../config/resource.ts';
import type { Destination } from '../../config/types/networking.ts';
import type { Analyzer, FieldPath, Report } from '../analyzer.ts';
import type { AnalysisContext } from '../context.ts';

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

/** Istio's resource name for a host (util.GetResourceNameFromHost): `name.ns.svc.cluster.local` is
 * `ns/name`; any other host, short or not, is a name in the referring resource's namespace. */
function resourceNameOf(host: string, namespace: string): string {
  const m = /^(.+)\.(.+)\.svc\.cluster\.local$/.exec(host);
  return m ? `${m[2]}/${m[1]}` : `${namespace}/${host}`;
}

/** The host, its port and its subset (destinationhosts.go analyzeVirtualService, checkServiceEntryPorts;
 * destinationrules.go analyzeVirtualService). Hosts and subsets are named as written. */
function check(ctx: AnalysisContext, vs: VirtualService, subsets: ReadonlySet<string>, report: Report): void {
  const ns = vs.metadata.namespace;
  for (const { destination, path, mirror } of destinations(vs)) {
    const target = ctx.destinationHost(ns, vs.spec.exportTo, destination.host);
    const ports = target?.kind === 'Service' ? (target.spec.ports ?? []).map((p) => p.port) : (target?.spec.ports ?? []).map((p) => p.number);
    if (!target) {
      report({
        code: 'IST0101',
        resource: vs,
        path: [...path, 'host'],
        message: `Referenced ${mirror ? 'mirror host' : 'host'} not found: "${destination.host}"`,
        fix: 'Name an existing Service (short name, or name.namespace.svc.cluster.local) or declare the host with a ServiceEntry exported to this namespace.',
      });
    } else if (destination.port === undefined && ports.length > 1) {
      report({
        code: 'IST0112',
        resource: vs,
        path,
        message: `This VirtualService routes to a service "${destination.host}" that exposes multiple ports [${ports.join(' ')}]. Specifying a port in the destination is required to disambiguate.`,
        fix: `Add port.number (one of ${ports.join(', ')}) to the destination.`,
      });
    } else if (destination.port !== undefined && !ports.includes(destination.port.number)) {
      report({
        code: 'IST0101',
        resource: vs,
        path: [...path, 'port', 'number'],
        message: `Referenced host:port not found: "${destination.host}:${destination.port.number}"`,
        fix: `Route to a port ${destination.host} exposes (${ports.join(', ') || 'none declared'}).`,
      });
    }
    if (destination.subset && !subsets.has(`${resourceNameOf(destination.host, ns)} ${destination.subset}`)) {
      report({
        code: 'IST0101',
        resource: vs,
        path: [...path, 'subset'],
        message: `Referenced ${mirror ? 'mirror' : 'host'}+subset in destinationrule not found: "${destination.host}+${destination.subset}"`,
        fix: `Define subset "${destination.subset}" in a DestinationRule for ${destination.host}, or remove the subset.`,
      });
    }
  }
}

/**
 * IST0140 (destinationhosts.go analyzeSubset): a gateway-bound VirtualService routes, without a
 * subset, to a host for which a VirtualService picks subsets; gateway requests never see those subsets.
 * Hosts compare as written, as Istio compares them.
 */
function ingressSubsets(vss: readonly VirtualService[], report: Report): void {
  const withSubsets = vss.flatMap((other) =>
    (other.spec.http ?? []).flatMap((rule) =>
      (rule.route ?? [])
        .filter((rd) => rd.destination.subset && (other.spec.hosts ?? []).includes(rd.destination.host))
        .map((rd) => ({ other, host: rd.destination.host })),
    ),
  );
  for (const vs of vss) {
    if ((vs.spec.gateways ?? []).length === 0) continue;
    for (const [i, rule] of (vs.spec.http ?? []).entries()) {
      for (const [j, rd] of (rule.route ?? []).entries()) {
        if (rd.destination.subset) continue;
        for (const { other } of withSubsets.filter((d) => d.host === rd.destination.host)) {
          report({
            code: 'IST0140',
            resource: vs,
            path: ['spec', 'http', i, 'route', j, 'destination', 'host'],
            message: `Subset in virtual service ${other.metadata.namespace}/${other.metadata.name} has no effect on ingress gateway ${vs.metadata.namespace}/${vs.metadata.name} requests`,
            fix: `Route to the subsets here too, or bind ${other.metadata.namespace}/${other.metadata.name} to the gateway as well, so gateway requests reach the same subsets.`,
          });
        }
      }
    }
  }
}

export const virtualServiceDestinations: Analyzer = {
  name: 'virtualservice.DestinationHostAnalyzer',
  codes: ['IST0101', 'IST0112', 'IST0140'],
  analyze(ctx, report) {
    // Every `ns/name subset` some DestinationRule defines (destinationrules.go initDestHostsAndSubsets).
    const subsets = new Set(
      ctx
        .ofKind<DestinationRule>('DestinationRule')
        .flatMap((dr) => (dr.spec.subsets ?? []).map((s) => `${resourceNameOf(dr.spec.host, dr.metadata.namespace)} ${s.name}`)),
    );
    const vss = ctx.ofKind<VirtualService>('VirtualService');
    for (const vs of vss) check(ctx, vs, subsets, report);
    ingressSubsets(vss, report);
  },
};
