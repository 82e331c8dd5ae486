// The explainer's config offline: manifests planned as `outrigger up` would run them (same workloads,
// sidecars and gateways), snapshotted, and translated per proxy by the control plane's translator.
import type { AnyResource, PeerAuthentication } from '../config/resource.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot, type MeshSnapshot } from '../model/snapshot.ts';
import type { WorkloadInstance } from '../model/workload.ts';
import { planMesh } from '../runtime/plan.ts';
import { effectiveMtls } from '../translate/peer-authentication.ts';
import { buildProxyResources } from '../translate/proxy-resources.ts';
import type { ResourcesByType } from './compiled-proxy.ts';
import { type ConfigSource, pickProxy, type ServerMtlsPolicy } from './config-source.ts';
import type { ProxyIdentity } from './trace.ts';

export interface OfflineMesh {
  snapshot: MeshSnapshot;
  proxies: { identity: ProxyIdentity; view: ProxyView }[];
}

/**
 * Each planned workload gets its own documentation address (192.0.2.0/24, RFC 5737) so endpoints can
 * be told apart in a trace; ports are the container ports, as on Kubernetes.
 */
export function planOfflineMesh(resources: readonly AnyResource[]): OfflineMesh {
  const plan = planMesh(resources);
  const workloads: WorkloadInstance[] = [];
  const proxies: OfflineMesh['proxies'] = [];
  let next = 10;
  const td = buildSnapshot(resources, [], 'offline').mesh.trustDomain;
  const principal = (ns: string, sa: string) => `spiffe://${td}/ns/${ns}/sa/${sa}`;
  for (const w of plan.workloads) {
    const ip = `192.0.2.${next++}`;
    const appPorts: Record<number, number> = {};
    for (const c of w.containers) for (const p of c.ports ?? []) appPorts[p.containerPort] = p.containerPort;
    workloads.push({
      name: w.name,
      namespace: w.namespace,
      labels: w.labels,
      serviceAccount: w.serviceAccount,
      address: ip,
      appPorts,
      ...(w.sidecar ? { tunnelAddress: `${ip}:15008` } : {}),
      healthy: true,
      source: 'deployment',
    });
    if (!w.sidecar) continue;
    const view: ProxyView = {
      id: `sidecar~${ip}~${w.name}.${w.namespace}~${w.namespace}.svc.cluster.local`,
      role: 'sidecar',
      namespace: w.namespace,
      workloadName: w.owner.name,
      serviceAccount: w.serviceAccount,
      labels: w.labels,
      ip,
      appPorts,
      tunnelAddress: `${ip}:15008`,
    };
    proxies.push({ view, identity: { name: `${w.name}.${w.namespace}`, role: 'sidecar', namespace: w.namespace, workload: w.owner.name, principal: principal(w.namespace, w.serviceAccount), address: ip } });
  }
  for (const g of plan.gateways) {
    const ip = `192.0.2.${next++}`;
    // The local runtime runs gateways under `<name>-service-account`, as Istio's charts name it.
    const sa = g.serviceAccount;
    // Named after its pod (`istio-ingressgateway-0.istio-system`), as `up` runs it and proxy-status lists it.
    const view: ProxyView = { id: `router~${ip}~${g.podName}.${g.namespace}~${g.namespace}.svc.cluster.local`, role: 'router', namespace: g.namespace, workloadName: g.name, serviceAccount: sa, labels: g.labels, ip, appPorts: {} };
    proxies.push({ view, identity: { name: `${g.podName}.${g.namespace}`, role: 'router', namespace: g.namespace, workload: g.name, principal: principal(g.namespace, sa), address: ip } });
  }
  return { snapshot: buildSnapshot(resources, workloads, 'offline'), proxies };
}

export class OfflineSource implements ConfigSource {
  readonly mode = 'offline';
  readonly #mesh: OfflineMesh;
  readonly #cache = new Map<string, ResourcesByType>();

  constructor(resources: readonly AnyResource[]) {
    this.#mesh = planOfflineMesh(resources);
  }

  get mesh(): OfflineMesh {
    return this.#mesh;
  }

  async sourceProxy(from: string): Promise<ProxyIdentity> {
    return pickProxy(
      this.#mesh.proxies.map((p) => p.identity),
      from,
    );
  }

  async workloadProxy(name: string, namespace: string): Promise<ProxyIdentity | undefined> {
    return this.#mesh.proxies.find((p) => p.identity.name === `${name}.${namespace}`)?.identity;
  }

  async resources(proxy: ProxyIdentity): Promise<ResourcesByType> {
    const cached = this.#cache.get(proxy.name);
    if (cached) return cached;
    const p = this.#view(proxy);
    const out = buildProxyResources(this.#mesh.snapshot, p);
    this.#cache.set(proxy.name, out);
    return out;
  }

  serverMtls(proxy: ProxyIdentity, port: number): ServerMtlsPolicy {
    const view = this.#view(proxy);
    const policies = this.#mesh.snapshot.resources.filter((r): r is PeerAuthentication => r.kind === 'PeerAuthentication');
    const m = effectiveMtls(policies, { namespace: view.namespace, labels: view.labels, port }, this.#mesh.snapshot.mesh.rootNamespace);
    return { mode: m.mode, decidedBy: m.decidedBy };
  }

  #view(proxy: ProxyIdentity): ProxyView {
    const p = this.#mesh.proxies.find((x) => x.identity.name === proxy.name);
    if (!p) throw new Error(`unknown proxy ${proxy.name}`);
    return p.view;
  }
}
