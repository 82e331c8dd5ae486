// ClusterLoadAssignments from the registry: healthy workloads (or ServiceEntry endpoints) of one
// service port and subset, grouped by locality. Meshed endpoints are reached through their tunnel.
import { matchesLabels } from '../model/labels.ts';
import type { MeshService, MeshServicePort } from '../model/service.ts';
import { type MeshSnapshot, type StaticEndpoint, serviceKey } from '../model/snapshot.ts';
import { workloadLocality } from '../model/locality.ts';
import type { WorkloadInstance } from '../model/workload.ts';
import { toStruct } from '../xds/any.ts';
import { endpointMtlsDisabled, type RuleTlsMode } from './destination-mtls.ts';

export interface LbEndpoint {
  locality: string;
  endpoint: Record<string, unknown>;
}

/** The labels of each emitted LbEndpoint, for failoverPriority (Envoy's JSON has no place for them). */
const labelsByEndpoint = new WeakMap<object, Readonly<Record<string, string>>>();

export function endpointLabels(endpoint: object): Readonly<Record<string, string>> {
  return labelsByEndpoint.get(endpoint) ?? {};
}

function labelled(ep: LbEndpoint, labels: Readonly<Record<string, string>>): LbEndpoint {
  labelsByEndpoint.set(ep.endpoint, labels);
  return ep;
}

export function buildLoadAssignment(
  snapshot: MeshSnapshot,
  clusterName: string,
  service: MeshService,
  port: MeshServicePort,
  subsetLabels: Readonly<Record<string, string>> | undefined,
  cache: EndpointCache = new Map(),
  ruleTls?: RuleTlsMode,
): Record<string, unknown> {
  const eps: LbEndpoint[] = [];
  for (const w of snapshot.endpointsByService.get(serviceKey(service)) ?? []) {
    if (!w.healthy || !matchesLabels(subsetLabels, w.labels)) continue;
    eps.push(workloadEndpoint(snapshot, w, port, cache, ruleTls));
  }
  for (const e of snapshot.staticEndpointsByService.get(serviceKey(service)) ?? []) {
    if (!matchesLabels(subsetLabels, e.spec.labels ?? {})) continue;
    const ep = staticEndpoint(e, port);
    if (ep) eps.push(ep);
  }
  return { cluster_name: clusterName, endpoints: groupByLocality(eps) };
}

/** A DNS-resolved cluster's inline endpoints: the ServiceEntry endpoints, or the host itself. */
export function dnsLoadAssignment(snapshot: MeshSnapshot, clusterName: string, service: MeshService, port: MeshServicePort): Record<string, unknown> {
  const eps = (snapshot.staticEndpointsByService.get(serviceKey(service)) ?? []).map((e) => staticEndpoint(e, port)).filter((e): e is LbEndpoint => !!e);
  if (eps.length === 0) eps.push({ locality: '', endpoint: { endpoint: { address: socket(service.hostname, port.targetPort) } } });
  return { cluster_name: clusterName, endpoints: groupByLocality(eps) };
}

/** Endpoints per workload and target port, shared by the clusters (subsets) of one translation. */
export type EndpointCache = Map<WorkloadInstance, Map<number, LbEndpoint>>;

// A rule's explicit TLS mode decides an endpoint's transport, so each has its own cache slot (above any
// port): ISTIO_MUTUAL keeps mTLS, any other mode drops it.
const EXPLICIT_MTLS_SLOT = 1 << 16;
const EXPLICIT_OTHER_SLOT = 2 << 16;

function workloadEndpoint(snapshot: MeshSnapshot, w: WorkloadInstance, port: MeshServicePort, cache: EndpointCache, ruleTls: RuleTlsMode): LbEndpoint {
  let byPort = cache.get(w);
  if (!byPort) {
    byPort = new Map();
    cache.set(w, byPort);
  }
  // A WorkloadEntry's port for the service port's name wins, as Istio's; else a named targetPort is
  // this workload's own container port of that name.
  const target = w.portsByName?.[port.name] ?? snapshot.targetPortFor(port, w);
  const slot = ruleTls === undefined ? target : target + (ruleTls === 'ISTIO_MUTUAL' ? EXPLICIT_MTLS_SLOT : EXPLICIT_OTHER_SLOT);
  let ep = byPort.get(slot);
  if (!ep) {
    ep = makeWorkloadEndpoint(w, target, endpointMtlsDisabled(snapshot, w, target, ruleTls));
    byPort.set(slot, ep);
  }
  return ep;
}

// A sidecar'd workload whose port is in PeerAuthentication DISABLE is reached in plaintext, without
// tlsMode metadata (Istio's endpoint mtlsChecker). Not when the DestinationRule says ISTIO_MUTUAL: the
// user's explicit mTLS goes to the tunnel. Any other explicit mode (DISABLE, SIMPLE, MUTUAL) drops
// tlsMode too: the cluster's own transport socket applies. What is not mTLS still passes the workload's
// sidecar, as Istio's inbound capture sends it there: through the tunnel, marked `via_tunnel`, so its
// authorization and telemetry apply. (Straight to the app address, a process-mode app would answer
// past its sidecar.)
function makeWorkloadEndpoint(w: WorkloadInstance, targetPort: number, plaintext: boolean): LbEndpoint {
  const locality = workloadLocality(w.labels, w.locality) ?? '';
  if (w.tunnelAddress) {
    return labelled({
      locality,
      endpoint: {
        endpoint: { address: tunnelSocket(w.tunnelAddress) },
        metadata: { filter_metadata: plaintext ? plaintextTunnelStruct(w, targetPort) : { istio: istioEndpointStruct(w), outrigger: targetPortStruct(targetPort) } },
      },
    }, w.labels);
  }
  // No tunnel registered (a VM's WorkloadEntry, even one labelled `security.istio.io/tlsMode: istio`):
  // plaintext to its address. Outrigger's mesh mTLS is its tunnel; Istio would send mTLS to the VM's own
  // sidecar here (docs/security-mtls.md).
  return labelled({ locality, endpoint: { endpoint: { address: socket(w.address, w.appPorts[targetPort] ?? targetPort) } } }, w.labels);
}

/**
 * A ServiceEntry endpoint, plaintext as a workload without a tunnel. Its port is that of its own service's
 * port of the cluster port's name; another service of the key without one leaves it out (Istio's EDS
 * matches endpoints to the port by name).
 */
function staticEndpoint({ spec: e, service }: StaticEndpoint, port: MeshServicePort): LbEndpoint | undefined {
  if (!e.address) return undefined;
  const own = service.ports.includes(port) ? port : service.ports.find((p) => p.name === port.name);
  if (!own) return undefined;
  const endpoint: Record<string, unknown> = { endpoint: { address: socket(e.address, e.ports?.[port.name] ?? own.targetPort) } };
  if (e.weight) endpoint['load_balancing_weight'] = { value: e.weight };
  const labels = e.labels ?? {};
  return labelled({ locality: workloadLocality(labels, e.locality) ?? '', endpoint }, labels);
}

// A workload's tunnel address and istio metadata are the same for each of its ports and clusters (the
// output is read-only): one object each per workload, and one `target_port` struct per port number.
const tunnelSockets = new Map<string, Record<string, unknown>>();
const istioStructs = new WeakMap<WorkloadInstance, Record<string, unknown>>();
const targetPortStructs = new Map<number, Record<string, unknown>>();

function tunnelSocket(tunnelAddress: string): Record<string, unknown> {
  let s = tunnelSockets.get(tunnelAddress);
  if (!s) {
    const colon = tunnelAddress.lastIndexOf(':');
    s = socket(tunnelAddress.slice(0, colon), Number(tunnelAddress.slice(colon + 1)));
    // Bounded: addresses of workloads that come and go; dropped wholesale rather than grown forever.
    if (tunnelSockets.size >= 65_536) tunnelSockets.clear();
    tunnelSockets.set(tunnelAddress, s);
  }
  return s;
}

function istioEndpointStruct(w: WorkloadInstance): Record<string, unknown> {
  let s = istioStructs.get(w);
  if (!s) {
    s = toStruct({ tlsMode: 'istio', workload: `${w.name};${w.namespace}` });
    istioStructs.set(w, s);
  }
  return s;
}

/** A DISABLE endpoint's metadata: the workload (no tlsMode), and the tunnel it is reached through as plaintext. */
function plaintextTunnelStruct(w: WorkloadInstance, port: number): Record<string, unknown> {
  return { istio: toStruct({ workload: `${w.name};${w.namespace}` }), outrigger: toStruct({ target_port: port, via_tunnel: true }) };
}

function targetPortStruct(port: number): Record<string, unknown> {
  let s = targetPortStructs.get(port);
  if (!s) {
    s = toStruct({ target_port: port });
    if (targetPortStructs.size >= 65_536) targetPortStructs.clear();
    targetPortStructs.set(port, s);
  }
  return s;
}

function socket(address: string, port: number): Record<string, unknown> {
  return { socket_address: { address, port_value: port } };
}

function groupByLocality(eps: readonly LbEndpoint[]): Record<string, unknown>[] {
  const groups = new Map<string, Record<string, unknown>[]>();
  for (const e of eps) {
    const list = groups.get(e.locality);
    if (list) list.push(e.endpoint);
    else groups.set(e.locality, [e.endpoint]);
  }
  return [...groups].map(([locality, lb_endpoints]) => {
    const [region, zone, subZone] = locality.split('/');
    const loc: Record<string, string> = {};
    if (region) loc['region'] = region;
    if (zone) loc['zone'] = zone;
    if (subZone) loc['sub_zone'] = subZone;
    return Object.keys(loc).length > 0 ? { locality: loc, lb_endpoints } : { lb_endpoints };
  });
}
