// The service registry's workload side: instances declared by Deployments and WorkloadEntries,
// registered by the local runtime, and announced by connected proxies, merged per namespace/name.
import type { AnyResource, Deployment, WorkloadEntry } from '../config/resource.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import type { WorkloadInstance } from '../model/workload.ts';

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

export class WorkloadRegistry {
  #declared = new Map<string, WorkloadInstance>();
  #registered = new Map<string, WorkloadInstance>();
  /** Connected proxies per instance key, with how many streams each has open. */
  #proxies = new Map<string, { view: ProxyView; streams: number }>();

  setDeclared(instances: readonly WorkloadInstance[]): void {
    this.#declared = new Map(instances.map((i) => [key(i.namespace, i.name), i]));
  }

  register(instance: WorkloadInstance): void {
    this.#registered.set(key(instance.namespace, instance.name), { ...instance });
  }

  unregister(namespace: string, name: string): boolean {
    return this.#registered.delete(key(namespace, name));
  }

  /** A proxy for instance `podName` connected; returns whether the registry changed. */
  proxyConnected(podName: string, view: ProxyView): boolean {
    const k = key(view.namespace, podName);
    const cur = this.#proxies.get(k);
    this.#proxies.set(k, { view, streams: (cur?.streams ?? 0) + 1 });
    return !cur;
  }

  proxyDisconnected(podName: string, namespace: string): boolean {
    const k = key(namespace, podName);
    const cur = this.#proxies.get(k);
    if (!cur) return false;
    if (cur.streams > 1) {
      cur.streams--;
      return false;
    }
    this.#proxies.delete(k);
    return true;
  }

  /** Every instance, merged: a proxy's own announcement wins over a registration, which wins over config. */
  instances(): WorkloadInstance[] {
    const keys = new Set([...this.#declared.keys(), ...this.#registered.keys(), ...this.#proxies.keys()]);
    const out: WorkloadInstance[] = [];
    for (const k of [...keys].sort()) {
      const base = this.#registered.get(k) ?? this.#declared.get(k);
      const proxy = this.#proxies.get(k)?.view;
      if (!proxy) {
        if (!base) continue;
        // An instance that expects a sidecar is ready only while that sidecar is connected.
        out.push(base.tunnelAddress ? { ...base, healthy: false } : base);
        continue;
      }
      const [namespace = '', name = ''] = k.split('/');
      const merged: WorkloadInstance = {
        name,
        namespace,
        labels: { ...(base?.labels ?? {}), ...proxy.labels },
        serviceAccount: proxy.serviceAccount,
        address: proxy.ip || base?.address || '127.0.0.1',
        appPorts: Object.keys(proxy.appPorts).length > 0 ? proxy.appPorts : (base?.appPorts ?? {}),
        healthy: true,
        source: base?.source ?? 'proxy',
      };
      const tunnel = proxy.tunnelAddress ?? base?.tunnelAddress;
      if (tunnel) merged.tunnelAddress = tunnel;
      if (base?.locality) merged.locality = base.locality;
      out.push(merged);
    }
    return out;
  }
}
