// Deployments as Istio's deployment analyzers see them: no application container runs as the proxy's
// UID 1337 (IST0144, applicationUID.Analyzer), and the Services selecting a meshed Deployment agree on
// each port's protocol (IST0116) and on the port behind each targetPort (IST0137,
// deployment.MultiServiceAnalyzer).
import type { Deployment, Service } from '../../config/resource.ts';
import type { Analyzer, Report } from '../analyzer.ts';
import type { AnalysisContext } from '../context.ts';
import { selects } from '../selector.ts';

const proxyUid = 1337;

/** util.IsIstioControlPlane: the analyzers leave Istio's own deployments alone. */
function controlPlane(d: Deployment): boolean {
  return d.metadata.labels['istio'] !== undefined || d.metadata.labels['release'] === 'istio';
}

function applicationUid(d: Deployment, report: Report): void {
  const spec = d.spec.template.spec;
  const app = spec.containers.filter((c) => c.name !== 'istio-proxy' && c.name !== 'istio-operator');
  const at = [
    ...(spec.securityContext?.runAsUser === proxyUid ? [['spec', 'template', 'spec', 'securityContext', 'runAsUser']] : []),
    ...app.flatMap((c) => (c.securityContext?.runAsUser === proxyUid ? [['spec', 'template', 'spec', 'containers', spec.containers.indexOf(c), 'securityContext', 'runAsUser']] : [])),
  ];
  for (const path of at) {
    report({
      code: 'IST0144',
      resource: d,
      path,
      message: 'User ID (UID) 1337 is reserved for the sidecar proxy.',
      fix: 'Run the application as another user: the proxy\'s traffic capture lets UID 1337 bypass it.',
    });
  }
}

function serviceAssociation(ctx: AnalysisContext, d: Deployment, report: Report): void {
  const ns = d.metadata.namespace;
  const labels = d.spec.template.metadata?.labels ?? {};
  // Kubernetes' SelectorFromSet: a Service without selector matches every pod, as Istio takes it.
  const services = ctx.ofKind<Service>('Service').filter((s) => s.metadata.namespace === ns && selects(s.spec.selector, labels));
  const byPort = new Map<number, Map<string, string[]>>();
  const byTarget = new Map<string, Map<number, string>>();
  for (const s of services) {
    const name = `${s.metadata.namespace}/${s.metadata.name}`;
    for (const p of s.spec.ports ?? []) {
      const protocols = byPort.get(p.port) ?? new Map<string, string[]>();
      const proto = p.protocol ?? 'TCP';
      protocols.set(proto, [...(protocols.get(proto) ?? []), name]);
      byPort.set(p.port, protocols);
      const target = String(p.targetPort || p.port);
      const ports = byTarget.get(target) ?? new Map<number, string>();
      ports.set(p.port, name);
      byTarget.set(target, ports);
    }
  }
  for (const [port, protocols] of byPort) {
    if (protocols.size < 2) continue;
    report({
      code: 'IST0116',
      resource: d,
      path: ['metadata', 'name'],
      message: `This deployment ${d.metadata.name} is associated with multiple services using port ${port} but different protocols: [${[...protocols.values()].flat().join(' ')}]`,
      fix: `Give port ${port} one protocol in every Service selecting the deployment: a pod serves one protocol per port.`,
    });
  }
  for (const [target, ports] of byTarget) {
    if (ports.size < 2) continue;
    report({
      code: 'IST0137',
      resource: d,
      path: ['spec', 'template', 'metadata', 'labels'],
      message: `This deployment ${d.metadata.name} is associated with multiple services [${[...ports.values()].join(' ')}] using targetPort "${target}" but different ports: [${[...ports.keys()].join(' ')}].`,
      fix: `Expose targetPort ${target} under one port number in every Service selecting the deployment.`,
    });
  }
}

export const deployments: Analyzer = {
  name: 'deployment.MultiServiceAnalyzer',
  codes: ['IST0144', 'IST0116', 'IST0137'],
  analyze(ctx, report) {
    for (const d of ctx.ofKind<Deployment>('Deployment')) {
      if (!controlPlane(d)) applicationUid(d, report);
      // util.DeploymentInMesh: only Deployments that get a sidecar.
      if (ctx.workloads.some((w) => w.kind === 'Deployment' && w.namespace === d.metadata.namespace && w.name === d.metadata.name && w.meshed)) {
        serviceAssociation(ctx, d, report);
      }
    }
  },
};
