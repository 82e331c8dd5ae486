// The names a pod may ask the mesh DNS server for and the answers: `svc`, `svc.ns` and
// `svc.ns.svc.<domain>`, as Kubernetes' cluster DNS answers them, each to an address the pod's sidecar
// captures. Names outside the cluster domain are refused: this server never passes a query on.

export interface MeshName {
  service: string;
  namespace: string;
  /** The IPv4 address the service's name resolves to. */
  address: string;
}

export type NameAnswer = { kind: 'address'; address: string } | { kind: 'nxdomain' } | { kind: 'refused' };

export class MeshNames {
  #byKey = new Map<string, string>();
  #namespaces = new Set<string>();
  #domain: string;

  constructor(names: readonly MeshName[], clusterDomain = 'cluster.local') {
    this.#domain = clusterDomain.toLowerCase();
    for (const n of names) {
      this.#byKey.set(`${n.service.toLowerCase()}.${n.namespace.toLowerCase()}`, n.address);
      this.#namespaces.add(n.namespace.toLowerCase());
    }
  }

  /**
   * Answers a lower-case name without its trailing dot. `clientNamespace` (the asking pod's namespace)
   * lets a bare `svc` resolve when a resolver sends it without its search list.
   */
  resolve(name: string, clientNamespace?: string): NameAnswer {
    const n = name.toLowerCase().replace(/\.$/, '');
    const suffix = `.svc.${this.#domain}`;
    if (n.endsWith(suffix)) {
      const labels = n.slice(0, -suffix.length).split('.');
      if (labels.length !== 2) return { kind: 'nxdomain' };
      return this.#lookup(labels[0] as string, labels[1] as string);
    }
    if (n === this.#domain || n.endsWith(`.${this.#domain}`)) return { kind: 'nxdomain' };
    const labels = n.split('.');
    if (labels.length === 2 && this.#namespaces.has(labels[1] as string)) return this.#lookup(labels[0] as string, labels[1] as string);
    if (labels.length === 1 && clientNamespace) {
      const found = this.#byKey.get(`${labels[0]}.${clientNamespace.toLowerCase()}`);
      if (found) return { kind: 'address', address: found };
    }
    return { kind: 'refused' };
  }

  #lookup(service: string, namespace: string): NameAnswer {
    const address = this.#byKey.get(`${service}.${namespace}`);
    return address ? { kind: 'address', address } : { kind: 'nxdomain' };
  }

  /** The resolv.conf search list of a pod in `namespace`, as the kubelet writes it. */
  searchList(namespace: string): string[] {
    return [`${namespace}.svc.${this.#domain}`, `svc.${this.#domain}`, this.#domain];
  }
}
