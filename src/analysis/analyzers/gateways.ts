// Gateways: the selector finds a gateway workload (IST0101), each port is on the gateway's Service
// (IST0162), each credentialName is a Secret with a certificate in the gateway workload's namespace
// (IST0101, IST0161), no two Gateways claim the same host on the same port of the same workloads
// (IST0145), and no server is left out for a protocol its port cannot take (OR2012).
import { X509Certificate } from 'node:crypto';
import type { Gateway, Secret, Service } from '../../config/resource.ts';
import { gatewayServesPod } from '../../model/gateway-api/gateways.ts';
import { gatewayRouteName, mergeServers } from '../../translate/gateway-servers.ts';
import type { Analyzer, Report } from '../analyzer.ts';
import type { AnalysisContext, AnalyzedWorkload } from '../context.ts';
import { hostsOverlap, splitGatewayHost } from '../hosts.ts';
import { selectorString, selects } from '../selector.ts';

/**
 * The TCP ports of the Services in front of a gateway workload: those the IstioOperator declares for
 * it, and those of every Service manifest of its namespace selecting it (Istio's analyzeGateway).
 * Undefined when unknown: an IstioOperator gateway with neither gets Istio's default Service.
 */
function servicePorts(ctx: AnalysisContext, w: AnalyzedWorkload): { port: number; targetPort?: number | string }[] | undefined {
  const fromYaml = ctx
    .ofKind<Service>('Service')
    .filter((s) => s.metadata.namespace === w.namespace && selects(s.spec.selector, w.labels))
    .flatMap((s) => (s.spec.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP'));
  if (!w.servicePorts && fromYaml.length === 0 && (w.kind === 'Gateway' || w.kind === 'WorkloadEntry')) return undefined;
  return [...(w.servicePorts ?? []), ...fromYaml];
}

function selectorAndPorts(ctx: AnalysisContext, gw: Gateway, report: Report): void {
  // Istio's default: a Gateway selects gateway pods in any namespace.
  const pods = ctx.workloads.filter((w) => selects(gw.spec.selector, w.labels));
  const selector = selectorString(gw.spec.selector);
  if (pods.length === 0) {
    report({
      code: 'IST0101',
      resource: gw,
      path: ['spec', 'selector'],
      message: `Referenced selector not found: "${selector}"`,
      fix: 'Select the labels of a gateway deployment (istio: ingressgateway for the default one), or enable that gateway in the IstioOperator.',
    });
    return;
  }
  credentials(ctx, gw, pods[0]?.namespace ?? '', report);
  const known = pods.map((w) => servicePorts(ctx, w)).filter((p) => p !== undefined);
  if (known.length === 0) return;
  const ports = known.flat();
  for (const [i, server] of gw.spec.servers.entries()) {
    const n = server.port.number;
    if (ports.some((p) => p.port === n || p.targetPort === n)) continue;
    report({
      code: 'IST0162',
      resource: gw,
      path: ['spec', 'servers', i, 'port', 'number'],
      message: `The gateway is listening on a target port (port ${n}) that is not defined in the Service associated with its workload instances (Pod selector ${selector}). If you need to access the gateway port through the gateway Service, it will not be available.`,
      fix: `Add port ${n} to the gateway Service (its manifest, or IstioOperator components.*Gateways[].k8s.service.ports), or use one of its ports.`,
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
        // Istio names the namespace of the gateway workload, where the Secret is read.
        message: `The credential referenced by the Gateway ${gw.metadata.name} in namespace ${namespace} is invalid, which can cause the traffic not to work as expected.`,
        fix: `Put a PEM certificate chain in tls.crt and its private key in tls.key (or cert and key) of Secret ${namespace}/${name}: it ${problem}.`,
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

/** Istio's ConflictingGatewayAnalyzer analyzeGateway: each Gateway of a clash is reported, naming the others. */
function conflicts(gateways: Gateway[], report: Report): void {
  for (const gw of gateways) {
    const selector = selectorString(gw.spec.selector);
    for (const [i, server] of gw.spec.servers.entries()) {
      const others = gateways.filter(
        (other) =>
          other !== gw &&
          selectorString(other.spec.selector) === selector &&
          other.spec.servers.some(
            (s) =>
              s.port.number === server.port.number &&
              s.hosts.some((ho) => server.hosts.some((h) => hostsOverlap(splitGatewayHost(h).host, splitGatewayHost(ho).host))),
          ),
      );
      if (others.length === 0) continue;
      report({
        code: 'IST0145',
        resource: gw,
        path: ['spec', 'servers', i, 'hosts'],
        message: `Conflict with gateways ${others.map((o) => `${o.metadata.namespace}/${o.metadata.name}`).join(',')} (workload selector ${selector}, port ${server.port.number}, hosts ${server.hosts.join(',')}).`,
        fix: 'Serve each host on a port from one Gateway; merge the servers or make the hosts distinct.',
      });
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
