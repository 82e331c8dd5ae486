// The upstream side of a hop read from the pushed cluster and its load assignment: the endpoints
// (with the workload and tlsMode translation put on them) and the transport the client uses.
import { compileCluster } from '../proxy/cluster/compile-cluster.ts';
import type { EnvoyCluster, EnvoyClusterLoadAssignment } from '../proxy/config/envoy-shapes.ts';
import { fromStruct } from '../xds/any.ts';
import type { EndpointTrace } from './trace.ts';

const unhealthy = new Set(['UNHEALTHY', 'DRAINING', 'TIMEOUT']);

function metadataOf(raw: unknown, key: string): Record<string, unknown> {
  const fm = (raw as { filter_metadata?: Record<string, unknown> } | undefined)?.filter_metadata?.[key];
  if (!fm || typeof fm !== 'object') return {};
  // Canonical JSON keeps Structs as `{ fields }`; plain objects pass through.
  return 'fields' in fm ? fromStruct(fm) : (fm as Record<string, unknown>);
}

export function endpointsOf(cluster: EnvoyCluster, assignments: ReadonlyMap<string, EnvoyClusterLoadAssignment>): EndpointTrace[] {
  const cla = cluster.load_assignment ?? assignments.get(cluster.eds_cluster_config?.service_name ?? cluster.name);
  const out: EndpointTrace[] = [];
  for (const group of cla?.endpoints ?? []) {
    for (const e of group.lb_endpoints ?? []) {
      const sa = e.endpoint?.address?.socket_address;
      const istio = metadataOf(e.metadata, 'istio');
      const outrigger = metadataOf(e.metadata, 'outrigger');
      const t: EndpointTrace = { address: `${sa?.address ?? '?'}:${sa?.port_value ?? '?'}`, healthy: !unhealthy.has(e.health_status ?? '') };
      if (typeof istio['workload'] === 'string') {
        const [name, ns] = istio['workload'].split(';');
        t.workload = `${name}.${ns}`;
      }
      if (typeof istio['tlsMode'] === 'string') t.tlsMode = istio['tlsMode'];
      if (typeof outrigger['target_port'] === 'number') t.targetPort = outrigger['target_port'];
      if (outrigger['via_tunnel'] === true) t.viaTunnel = true;
      out.push(t);
    }
  }
  return out;
}

export interface ClientTls {
  /** ISTIO_MUTUAL, AUTO, SIMPLE, MUTUAL or DISABLE. */
  mode: string;
  uses: 'mtls' | 'plaintext' | 'tls';
}

type Socket = { name?: string; typed_config?: Record<string, unknown> } | undefined;

function socketKind(s: Socket): ClientTls['uses'] {
  if (!s?.typed_config || s.name === 'envoy.transport_sockets.raw_buffer') return 'plaintext';
  const text = JSON.stringify(s.typed_config);
  return text.includes('"default"') && text.includes('"ROOTCA"') ? 'mtls' : 'tls';
}

/**
 * Secure naming: the SPIFFE IDs a meshed endpoint's tunnel server must present one of, read by the
 * proxy's own cluster compiler (the mesh TLS context's matchers, else `outrigger.secure_naming`).
 * Empty: any mesh identity, or a cluster the proxy would refuse.
 */
export function secureNamingOf(cluster: EnvoyCluster): string[] {
  try {
    return [...compileCluster(cluster).meshSans];
  } catch {
    return [];
  }
}

/** The client's TLS for one endpoint: a fixed transport socket, or auto mTLS by the endpoint's tlsMode. */
export function clientTlsFor(cluster: EnvoyCluster, endpoint: EndpointTrace | undefined): ClientTls {
  const matches = (cluster as { transport_socket_matches?: { match?: unknown; transport_socket?: Socket }[] }).transport_socket_matches;
  if (matches?.length) {
    for (const m of matches) {
      const want = m.match && typeof m.match === 'object' ? ('fields' in m.match ? fromStruct(m.match) : (m.match as Record<string, unknown>)) : {};
      const ok = Object.entries(want).every(([k, v]) => (k === 'tlsMode' ? endpoint?.tlsMode === v : false));
      if (ok) return { mode: 'AUTO', uses: socketKind(m.transport_socket) };
    }
    return { mode: 'AUTO', uses: 'plaintext' };
  }
  const uses = socketKind(cluster.transport_socket);
  if (uses === 'plaintext') return { mode: 'DISABLE', uses };
  if (uses === 'mtls') return { mode: 'ISTIO_MUTUAL', uses };
  return { mode: JSON.stringify(cluster.transport_socket).includes('tls_certificate') ? 'MUTUAL' : 'SIMPLE', uses };
}
