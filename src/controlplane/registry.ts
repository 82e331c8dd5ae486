// The service registry's workload side: instances declared by Deployments and WorkloadEntries,
// registered by the local runtime, and announced by connected proxies, merged per namespace/name. A
// proxy speaks only for instances of its verified identity, as istiod's ensureProxyCanControlEntry.
import type { AnyResource, Deployment, WorkloadEntry } from '../config/resource.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import type { WorkloadInstance } from '../model/workload.ts';
import type { IdentityCredential, WorkloadIdentity } from './bootstrap-tokens.ts';

const key = (ns: string, name: string) => `${ns}/${name}`;

/** Deployment replicas (`name-0`, `name-1`, ...) and WorkloadEntries from the config. */
export function declaredWorkloads(resources: readonly AnyResource[]): WorkloadInstance[] {
  const out: WorkloadInstance[] = [];
  for (const r of resources) {
    if (r.kind === 'Deployment') out.push(...replicas(r as Deployment));
    else if (r.kind === 'WorkloadEntry') out.push(fromWorkloadEntry(r as WorkloadEntry));
  }
  return out;
}

function replicas(d: Deployment): WorkloadInstance[] {
  const t = d.spec.template;
  const ports: Record<number, number> = {};
  for (const c of t.spec.containers ?? []) for (const p of c.ports ?? []) ports[p.containerPort] = p.containerPort;
  const n = Math.max(0, Math.min(d.spec.replicas ?? 1, 1000));
  return Array.from({ length: n }, (_, i) => ({
    name: `${d.metadata.name}-${i}`,
    namespace: d.metadata.namespace,
    labels: { ...(t.metadata?.labels ?? {}) },
    serviceAccount: t.spec.serviceAccountName ?? 'default',
    workload: d.metadata.name,
    address: '127.0.0.1',
    appPorts: { ...ports },
    // Declared, not seen running: healthy once the runtime registers it or its proxy connects.
    healthy: false,
    source: 'deployment' as const,
  }));
}

function fromWorkloadEntry(w: WorkloadEntry): WorkloadInstance {
  const ports: Record<number, number> = {};
  for (const p of Object.values(w.spec.ports ?? {})) ports[p] = p;
  const inst: WorkloadInstance = {
    name: w.metadata.name,
    namespace: w.metadata.namespace,
    labels: { ...(w.spec.labels ?? {}) },
    serviceAccount: w.spec.serviceAccount ?? 'default',
    address: w.spec.address ?? '',
    appPorts: ports,
    healthy: Boolean(w.spec.address),
    source: 'workload-entry',
  };
  if (w.spec.ports) inst.portsByName = { ...w.spec.ports };
  if (w.spec.locality) inst.locality = w.spec.locality;
  return inst;
}

/** A connected proxy's verified identity and, per open stream, what that stream's node announced. */
interface Announced {
  identity: WorkloadIdentity;
  views: Map<string, ProxyView>;
}

export class WorkloadRegistry {
  #declared = new Map<string, WorkloadInstance>();
  #registered = new Map<string, WorkloadInstance>();
  /** Connected proxies per instance key. */
  #proxies = new Map<string, Announced>();

  setDeclared(instances: readonly WorkloadInstance[]): void {
    this.#declared = new Map(instances.map((i) => [key(i.namespace, i.name), i]));
  }

  register(instance: WorkloadInstance): void {
    this.#registered.set(key(instance.namespace, instance.name), { ...instance });
  }

  unregister(namespace: string, name: string): boolean {
    return this.#registered.delete(key(namespace, name));
  }

  /**
   * Why a proxy with this verified identity may not announce instance `namespace/podName`, or undefined
   * when it may: the instance declared or registered, else the one another identity's proxy announces,
   * must have the identity's namespace, service account and (when it names one) workload. `credential`
   * is what proved the identity: a client certificate proves no workload, the node claims it.
   */
  refusal(namespace: string, podName: string, identity: WorkloadIdentity, credential: IdentityCredential = 'token'): string | undefined {
    const k = key(namespace, podName);
    const base = this.#base(k);
    const owner = base ? { namespace, serviceAccount: base.serviceAccount, workload: base.workload } : this.#proxies.get(k)?.identity;
    if (!owner || mayControl(identity, owner)) return undefined;
    const what = base ? 'is declared for' : 'is announced by a proxy of';
    const claimed =
      credential === 'token'
        ? `the token is for ${describe(identity)}`
        : `the client certificate is for ${identity.namespace}/${identity.serviceAccount} and the node claims workload ${identity.workload}`;
    return `pod ${k} ${what} service account ${owner.serviceAccount}${owner.workload ? ` (workload ${owner.workload})` : ''}; ${claimed}`;
  }

  /**
   * Stream `stream` of a proxy with a verified identity announced instance `podName`; returns whether the
   * registry changed. The caller checked `refusal` first; the identity's service account, never the
   * node's, is the instance's.
   */
  proxyConnected(stream: string, podName: string, view: ProxyView, identity: WorkloadIdentity): boolean {
    const k = key(identity.namespace, podName);
    const cur = this.#proxies.get(k);
    if (cur) {
      if (!mayControl(identity, cur.identity)) return false;
      cur.views.set(stream, view);
      return false;
    }
    this.#proxies.set(k, { identity, views: new Map([[stream, view]]) });
    return true;
  }

  proxyDisconnected(stream: string, podName: string, namespace: string): boolean {
    const k = key(namespace, podName);
    const cur = this.#proxies.get(k);
    if (!cur?.views.delete(stream)) return false;
    if (cur.views.size > 0) return false;
    this.#proxies.delete(k);
    return true;
  }

  /**
   * Every instance, merged: a proxy's own announcement wins over a registration, which wins over config;
   * an announcement by an identity the instance is not for (config declared it after the proxy connected)
   * is left out.
   */
  instances(): WorkloadInstance[] {
    const keys = new Set([...this.#declared.keys(), ...this.#registered.keys(), ...this.#proxies.keys()]);
    const out: WorkloadInstance[] = [];
    for (const k of [...keys].sort()) {
      const base = this.#base(k);
      const announced = this.#proxies.get(k);
      const [namespace = '', name = ''] = k.split('/');
      const allowed = announced && (!base || mayControl(announced.identity, { namespace, serviceAccount: base.serviceAccount, workload: base.workload }));
      // The stream that connected last speaks for the proxy.
      const proxy = allowed ? [...announced.views.values()].at(-1) : undefined;
      if (!announced || !proxy) {
        if (!base) continue;
        // An instance that expects a sidecar is ready only while that sidecar is connected.
        out.push(base.tunnelAddress ? { ...base, healthy: false } : base);
        continue;
      }
      const merged: WorkloadInstance = {
        name,
        namespace,
        // Labels decide which services a pod serves, and so whose traffic, and whose certificate secure
        // naming accepts: they are the config's (a Kubernetes pod's labels are its spec's, never its
        // proxy's). Only a pod no config knows, of a workload no config knows, takes its proxy's.
        labels: base ? base.labels : (this.#templateLabels(namespace, announced.identity.workload) ?? proxy.labels),
        serviceAccount: announced.identity.serviceAccount,
        workload: base?.workload ?? announced.identity.workload,
        address: proxy.ip || base?.address || '127.0.0.1',
        appPorts: Object.keys(proxy.appPorts).length > 0 ? proxy.appPorts : (base?.appPorts ?? {}),
        // A pod the local runtime runs is ready when the runtime says (its app listens, as a readiness
        // probe finds it), not as soon as its sidecar connects; one it does not run (a proxy joining
        // from another host) once its proxy is connected.
        healthy: this.#registered.get(k)?.healthy ?? true,
        source: base?.source ?? 'proxy',
      };
      const tunnel = proxy.tunnelAddress ?? base?.tunnelAddress;
      if (tunnel) merged.tunnelAddress = tunnel;
      if (base?.locality) merged.locality = base.locality;
      out.push(merged);
    }
    return out;
  }

  /** The labels of a declared replica of `workload` in `namespace` (its pod template's), if config declares one. */
  #templateLabels(namespace: string, workload: string | undefined): Record<string, string> | undefined {
    if (workload === undefined) return undefined;
    for (const d of this.#declared.values()) if (d.namespace === namespace && d.workload === workload) return d.labels;
    return undefined;
  }

  /** What config or the runtime says of an instance; a registration names the workload config may know. */
  #base(k: string): WorkloadInstance | undefined {
    const registered = this.#registered.get(k);
    const declared = this.#declared.get(k);
    if (!registered) return declared;
    if (registered.workload !== undefined || declared?.workload === undefined || declared.serviceAccount !== registered.serviceAccount) return registered;
    return { ...registered, workload: declared.workload };
  }
}

interface Owner {
  namespace: string;
  serviceAccount: string;
  workload?: string | undefined;
}

function mayControl(identity: WorkloadIdentity, owner: Owner): boolean {
  return identity.namespace === owner.namespace && identity.serviceAccount === owner.serviceAccount && (owner.workload === undefined || owner.workload === identity.workload);
}

function describe(id: WorkloadIdentity): string {
  return `${id.namespace}/${id.serviceAccount} (workload ${id.workload})`;
}
