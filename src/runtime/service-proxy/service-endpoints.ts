// Where kube-proxy would send a connection to a Service: any ready pod the Service selects, in turn, to
// the pod's port the service port targets. No VirtualService, DestinationRule or subset applies: a
// client without a sidecar is load-balanced by kube-proxy alone, whatever the mesh's routing says.
import { matchesLabels } from '../../model/labels.ts';
import { lookupService, type MeshSnapshot, serviceKey } from '../../model/snapshot.ts';

/** A pod to reach: through its sidecar's tunnel, or straight to its app when it has no sidecar. */
export type ServiceEndpoint =
  | { readonly kind: 'tunnel'; readonly tunnelAddress: string; readonly address: string; readonly targetPort: number; readonly pod: string }
  | { readonly kind: 'direct'; readonly address: string; readonly port: number; readonly pod: string };

export type ServiceResolution =
  /** A Kubernetes Service of the mesh, and the pod picked for this connection. */
  | { readonly kind: 'service'; readonly service: string; readonly endpoint: ServiceEndpoint }
  /** A Service, but nothing to send to: the reason, as a client would come to know it. */
  | { readonly kind: 'unavailable'; readonly service: string; readonly reason: string }
  /** Not a Service's name: the client's own DNS and network decide, as they would in a pod. */
  | { readonly kind: 'outside' };

/** Picks endpoints round-robin per service port, as kube-proxy's IPVS mode does (its iptables mode picks at random). */
export class ServiceEndpoints {
  #snapshot: () => MeshSnapshot;
  #turn = new Map<string, number>();

  constructor(snapshot: () => MeshSnapshot) {
    this.#snapshot = snapshot;
  }

  /** `host` (any of a Service's DNS names, short ones read in `fromNamespace`) and `port`, as a client named them. */
  resolve(host: string, port: number, fromNamespace: string): ServiceResolution {
    const snapshot = this.#snapshot();
    const name = host.toLowerCase().replace(/\.$/, '');
    const svc = lookupService(snapshot, name, fromNamespace);
    // Cluster DNS knows Services, not ServiceEntry hosts: those resolve as they would outside the mesh.
    if (svc?.source !== 'kubernetes') return { kind: 'outside' };
    const service = `${svc.name}.${svc.namespace}`;
    const sp = svc.ports.find((p) => p.port === port);
    if (!sp) return { kind: 'unavailable', service, reason: `service ${service} has no port ${port} (its ports: ${svc.ports.map((p) => p.port).join(', ') || 'none'})` };
    // The Service's own pods: the mesh's endpoints of its host also hold what a ServiceEntry of that host
    // in its namespace selects, which kube-proxy never sees.
    const selector = svc.selector;
    const ready = selector ? (snapshot.endpointsByService.get(serviceKey(svc)) ?? []).filter((w) => w.healthy && matchesLabels(selector, w.labels)) : [];
    if (ready.length === 0) return { kind: 'unavailable', service, reason: `service ${service} has no ready endpoints` };
    const key = `${serviceKey(svc)}:${port}`;
    const turn = this.#turn.get(key) ?? 0;
    this.#turn.set(key, turn + 1);
    const w = ready[turn % ready.length] as (typeof ready)[number];
    const targetPort = snapshot.targetPortFor(sp, w);
    const pod = `${w.namespace}/${w.name}`;
    const endpoint: ServiceEndpoint = w.tunnelAddress
      ? { kind: 'tunnel', tunnelAddress: w.tunnelAddress, address: w.address, targetPort, pod }
      : { kind: 'direct', address: w.address, port: w.appPorts[targetPort] ?? targetPort, pod };
    return { kind: 'service', service, endpoint };
  }
}
