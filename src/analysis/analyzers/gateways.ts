// Gateways: the selector finds a gateway workload (IST0101), each port is on the gateway's Service
// (IST0162), each credentialName is a Secret with a certificate in the gateway workload's namespace
// (IST0101, IST0161), no two Gateways claim the same host on the same port of the same workloads
// (IST0145), and no server is left out for a protocol its port cannot take (OR2012).
import { X509Certificate } from 'node:crypto';
import type { Gateway, Secret } from '../../config/resource.ts';
import { gatewayServesPod } from '../../model/gateway-api/gateways.ts';
import { gatewayRouteName, mergeServers } from '../../translate/gateway-servers.ts';
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
  credentials(ctx, gw, pods[0]?.namespace ?? '', report);
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

/** Istio's gateway.SecretAnalyzer: the gateway reads credentials from its workload's namespace, not the Gateway's. */
function credentials(ctx: AnalysisContext, gw: Gateway, namespace: string, report: Report): void {
  for (const [i, server] of gw.spec.servers.entries()) {
    const name = server.tls?.credentialName;
    if (!name) continue;
    const path = ['spec', 'servers', i, 'tls', 'credentialName'];
    const secret = ctx.ofKind<Secret>('Secret').find((s) => s.metadata.namespace === namespace && s.metadata.name === name);
    if (!secret) {
      report({
        code: 'IST0101',
        resource: gw,
        path,
        message: `Referenced credentialName not found: "${name}"`,
        fix: `Create the Secret ${name} (tls.crt and tls.key) in ${namespace}, the namespace of the gateway workload, not necessarily the Gateway's.`,
      });
      continue;
    }
    const problem = credentialProblem(secret.spec.data);
    if (problem) {
      report({
        code: 'IST0161',
        resource: gw,
        path,
        message: `The credential provided for the Gateway ${gw.metadata.name} in namespace ${gw.metadata.namespace} is invalid: ${namespace}/${name} ${problem}`,
        fix: 'Put a PEM certificate chain in tls.crt and its private key in tls.key (or cert and key) of the Secret.',
      });
    }
  }
}

/** What is wrong with a credential Secret's certificate and key, or undefined. */
function credentialProblem(data: Readonly<Record<string, string>>): string | undefined {
  const cert = data['tls.crt'] ?? data['cert'];
  const key = data['tls.key'] ?? data['key'];
  if (!cert || !key) return 'has no tls.crt and tls.key (or cert and key)';
  try {
    new X509Certificate(cert);
  } catch {
    return 'holds no valid PEM certificate';
  }
  return undefined;
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

/**
 * Servers a gateway workload leaves out for their protocol, merged as translation merges them (Istio's
 * mergeGateways, canMergeProtocols): each reported once, whichever workloads run its Gateway.
 */
function protocolConflicts(ctx: AnalysisContext, all: Gateway[], report: Report): void {
  const reported = new Set<string>();
  for (const w of ctx.workloads) {
    if (w.kind !== 'Gateway') continue;
    const { dropped } = mergeServers(
      all.filter((g) => gatewayServesPod(g, w)),
      (n) => w.servicePorts?.find((p) => p.port === n)?.targetPort ?? n,
    );
    for (const d of dropped) {
      const key = `${d.server.key}\0${d.server.index}`;
      if ((d.reason !== 'protocol' && d.reason !== 'route-name') || reported.has(key)) continue;
      reported.add(key);
      const { port } = d.server.server;
      if (d.reason === 'route-name') {
        // Names unique per Gateway can still meet across Gateways: the parts join with dots.
        report({
          code: 'OR2012',
          resource: d.server.gateway,
          path: ['spec', 'servers', d.server.index, 'port', 'name'],
          message: `The HTTPS server on port ${port.number} is left out: its route configuration name ${gatewayRouteName(d.server, d.port)} is another server's (Istio's gatewayRDSRouteName joins port name, Gateway name and namespace with dots)`,
          fix: 'Rename the port (or the Gateway) so the names stay distinct.',
        });
        continue;
      }
      report({
        code: 'OR2012',
        resource: d.server.gateway,
        path: ['spec', 'servers', d.server.index, 'port', 'protocol'],
        message: `The ${port.protocol} server on port ${port.number} is left out: the port already serves ${d.heldBy ?? 'TLS'}, and a port serves plain-text HTTP servers, one plain-text TCP server, or servers with TLS settings (Istio's mergeGateways)`,
        fix: 'Serve it on another port, or give it a `bind` address of its own.',
      });
    }
  }
}

export const gateways: Analyzer = {
  name: 'gateway.IngressGatewayPortAnalyzer',
  codes: ['IST0101', 'IST0162', 'IST0161', 'IST0145', 'OR2012'],
  analyze(ctx, report) {
    const all = ctx.ofKind<Gateway>('Gateway');
    for (const gw of all) selectorAndPorts(ctx, gw, report);
    conflicts(all, report);
    protocolConflicts(ctx, all, report);
  },
};
