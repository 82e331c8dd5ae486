// Deployments and Pods as Istio's deployment analyzers see them: no application container runs as the
// proxy's UID 1337 (IST0144, applicationUID.Analyzer), and the Services selecting a meshed Deployment
// agree on each port's protocol (IST0116) and on the port behind each targetPort (IST0137,
// deployment.MultiServiceAnalyzer).
import type { Deployment, ForeignResource, Service } from '../../config/resource.ts';
import type { Analyzer, FieldPath, Report } from '../analyzer.ts';
import { type AnalysisContext, controlPlane } from '../context.ts';
import { selects } from '../selector.ts';

const proxyUid = 1337;

/** The pod spec fields IST0144 reads; a Pod's spec is kept unchecked by the loader, hence `unknown`. */
interface UidSpec {
  securityContext?: { runAsUser?: unknown } | null;
  containers?: unknown;
}

/** analyzeAppUIDForDeployment / analyzeAppUIDForPod: the pod's and each application container's runAsUser. */
function applicationUid(resource: Deployment | ForeignResource, spec: UidSpec, at: FieldPath, report: Report): void {
  const containers: unknown[] = Array.isArray(spec.containers) ? spec.containers : [];
  const paths = [
    ...(spec.securityContext?.runAsUser === proxyUid ? [[...at, 'securityContext', 'runAsUser']] : []),
    ...containers.flatMap((c, i) => {
      const { name, securityContext } = (c ?? {}) as { name?: unknown; securityContext?: { runAsUser?: unknown } | null };
      if (name === 'istio-proxy' || name === 'istio-operator') return [];
      return securityContext?.runAsUser === proxyUid ? [[...at, 'containers', i, 'securityContext', 'runAsUser']] : [];
    }),
  ];
  for (const path of paths) {
    report({
      code: 'IST0144',
      resource,
      path,
      message: 'User ID (UID) 1337 is reserved for the sidecar proxy.',
      fix: 'Run the application as another user: the proxy\'s traffic capture lets UID 1337 bypass it.',
    });
  }
}

function serviceAssociation(ctx: AnalysisContext, d: Deployment, report: Report): void {
  const ns = d.metadata.namespace;
  const labels = d.spec.template.metadata?.labels ?? {};
  // findMatchingServices: a Service without selector (or an empty one) selects no Deployment here.
  const services = ctx
    .ofKind<Service>('Service')
    .filter((s) => s.metadata.namespace === ns && Object.keys(s.spec.selector ?? {}).length > 0 && selects(s.spec.selector, labels));
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
      message: `This deployment ${d.metadata.name} is associated with multiple services using port ${port} but different protocols: [${[...protocols.values()].flat().sort().join(' ')}]`,
      fix: `Give port ${port} one protocol in every Service selecting the deployment: a pod serves one protocol per port.`,
    });
  }
  for (const [target, ports] of byTarget) {
    if (ports.size < 2) continue;
    // As Istio, names and port numbers are each sorted, so they no longer pair up by position.
    const names = [...ports.values()].sort();
    const numbers = [...ports.keys()].sort((a, b) => a - b);
    report({
      code: 'IST0137',
      resource: d,
      path: ['spec', 'template', 'metadata', 'labels'],
      message: `This deployment ${d.metadata.name} is associated with multiple services [${names.join(' ')}] using targetPort "${target}" but different ports: [${numbers.join(' ')}].`,
      fix: `Expose targetPort ${target} under one port number in every Service selecting the deployment.`,
    });
  }
}

export const deployments: Analyzer = {
  name: 'deployment.MultiServiceAnalyzer',
  codes: ['IST0144', 'IST0116', 'IST0137'],
  analyze(ctx, report) {
    for (const p of ctx.ofKind<ForeignResource>('Pod')) {
      if (!controlPlane(p.metadata.labels)) applicationUid(p, p.spec as UidSpec, ['spec'], report);
    }
    for (const d of ctx.ofKind<Deployment>('Deployment')) {
      if (!controlPlane(d.metadata.labels)) applicationUid(d, d.spec.template.spec, ['spec', 'template', 'spec'], report);
      // util.DeploymentInMesh: only Deployments that get a sidecar.
      if (ctx.workloads.some((w) => w.kind === 'Deployment' && w.namespace === d.metadata.namespace && w.name === d.metadata.name && w.meshed)) {
        serviceAssociation(ctx, d, report);
      }
    }
  },
};
