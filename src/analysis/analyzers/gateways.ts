// Gateways: the selector finds a gateway workload (IST0101), each port is on the gateway's Service
// (IST0162), and no two Gateways claim the same host on the same port of the same workloads (IST0145).
import type { Gateway } from '../../config/resource.ts';
import type { Analyzer, Report } from '../analyzer.ts';
import type { AnalysisContext } from '../context.ts';
import { hostsOverlap, splitGatewayHost } from '../hosts.ts';
import { selects } from '../selector.ts';

function selectorAndPorts(ctx: AnalysisContext, gw: Gateway, report: Report): void {
  // Istio's default: a Gateway selects gateway pods in any namespace.
  const pods = ctx.workloads.filter((w) => selects(gw.spec.selector, w.labels));
  if (pods.length === 0) {
    const labels = Object.entries(gw.spec.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    report({
      code: 'IST0101',
      resource: gw,
      path: ['spec', 'selector'],
      message: `Referenced selector not found: "${labels}"`,
      fix: 'Select the labels of a gateway deployment (istio: ingressgateway for the default one), or enable that gateway in the IstioOperator.',
    });
    return;
  }
  const declared = pods.filter((w) => w.servicePorts);
  if (declared.length === 0) return;
  for (const [i, server] of gw.spec.servers.entries()) {
    const n = server.port.number;
    if (declared.some((w) => (w.servicePorts ?? []).some((p) => p.port === n || p.targetPort === n))) continue;
    report({
      code: 'IST0162',
      resource: gw,
      path: ['spec', 'servers', i, 'port', 'number'],
      message: `The gateway is listening on a target port (port ${n}) that is not defined in the Service associated with its workload`,
      fix: `Add port ${n} to the gateway Service (IstioOperator components.*Gateways[].k8s.service.ports), or use one of its ports.`,
    });
  }
}

function conflicts(gateways: Gateway[], report: Report): void {
  for (const [a, ga] of gateways.entries()) {
    for (const gb of gateways.slice(a + 1)) {
      if (JSON.stringify(ga.spec.selector ?? {}) !== JSON.stringify(gb.spec.selector ?? {})) continue;
      for (const [i, sb] of gb.spec.servers.entries()) {
        const clash = ga.spec.servers.find(
          (sa) =>
            sa.port.number === sb.port.number &&
            sa.hosts.some((ha) => sb.hosts.some((hb) => hostsOverlap(splitGatewayHost(ha).host, splitGatewayHost(hb).host))),
        );
        if (!clash) continue;
        report({
          code: 'IST0145',
          resource: gb,
          path: ['spec', 'servers', i, 'hosts'],
          message: `Conflict with gateways ${ga.metadata.namespace}/${ga.metadata.name} (workload selector ${JSON.stringify(gb.spec.selector ?? {})}, port ${sb.port.number}, hosts ${sb.hosts.join(',')})`,
          fix: 'Serve each host on a port from one Gateway; merge the servers or make the hosts distinct.',
        });
      }
    }
  }
}

export const gateways: Analyzer = {
  name: 'gateway.IngressGatewayPortAnalyzer',
  codes: ['IST0101', 'IST0162', 'IST0145'],
  analyze(ctx, report) {
    const all = ctx.ofKind<Gateway>('Gateway');
    for (const gw of all) selectorAndPorts(ctx, gw, report);
    conflicts(all, report);
  },
};
