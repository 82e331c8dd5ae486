// An upstream endpoint as the load balancer and pools see it, compiled from an EDS LbEndpoint.
import { fromStruct } from '../../xds/any.ts';
import { ProxyConfigError } from '../config/config-error.ts';
import type { EnvoyClusterLoadAssignment, EnvoyLbEndpoint } from '../config/envoy-shapes.ts';

export interface Endpoint {
  readonly address: string;
  readonly port: number;
  /** `host:port`, the pool key and the `upstream_host` in logs. */
  readonly key: string;
  /** Reached through the mesh tunnel (`filter_metadata.istio.tlsMode = istio`, or `outrigger.via_tunnel`). */
  readonly mesh: boolean;
  /**
   * Through the tunnel, but served at the other end as plaintext (`outrigger.via_tunnel` without
   * tlsMode: a workload whose port is PeerAuthentication DISABLE): its requests carry the tunnel's
   * plaintext marker, as a DestinationRule DISABLE cluster's do.
   */
  readonly plaintext?: boolean;
  /** The container port the tunnel forwards to (`filter_metadata.outrigger.target_port`). */
  readonly targetPort: number;
  readonly weight: number;
  readonly healthy: boolean;
  readonly priority: number;
  readonly locality: string;
  readonly localityWeight?: number;
  /** `filter_metadata.istio.workload` (`name;namespace`): telemetry's destination when no peer answers. */
  readonly workload?: string;
  /** Requests in flight, for LEAST_REQUEST. */
  active: number;
}

/** An endpoint address as the host part of an authority or URL: an IPv6 address in brackets. */
export function hostOf(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/** One namespace of `metadata.filter_metadata`, as plain JSON (an absent or non-object one is `{}`). */
export function structField(meta: Record<string, unknown> | undefined, ns: string): Record<string, unknown> {
  const v = meta?.[ns];
  if (!v || typeof v !== 'object') return {};
  // Struct values decode as `{ fields: ... }`; tolerate plain JSON too.
  return 'fields' in v ? fromStruct(v) : (v as Record<string, unknown>);
}

export function compileEndpoint(e: EnvoyLbEndpoint, where: string, group: { priority?: number; locality?: string; localityWeight?: number } = {}): Endpoint {
  const sa = e.endpoint?.address?.socket_address;
  if (!sa?.address || sa.port_value === undefined) throw new ProxyConfigError(where, 'endpoint.address.socket_address', 'address and port_value are required');
  const istio = structField(e.metadata?.filter_metadata, 'istio');
  const outrigger = structField(e.metadata?.filter_metadata, 'outrigger');
  const viaTunnel = outrigger['via_tunnel'] === true && istio['tlsMode'] !== 'istio';
  const mesh = istio['tlsMode'] === 'istio' || viaTunnel;
  const targetPort = Number(outrigger['target_port'] ?? sa.port_value);
  if (mesh && !Number.isInteger(targetPort)) throw new ProxyConfigError(where, 'metadata.filter_metadata.outrigger.target_port', 'must be a port number');
  const hs = e.health_status ?? 'UNKNOWN';
  return {
    address: sa.address,
    port: sa.port_value,
    key: `${sa.address}:${sa.port_value}`,
    mesh,
    ...(viaTunnel ? { plaintext: true } : {}),
    targetPort,
    weight: e.load_balancing_weight?.value ?? 1,
    healthy: hs === 'UNKNOWN' || hs === 'HEALTHY' || hs === 'DEGRADED',
    priority: group.priority ?? 0,
    locality: group.locality ?? '',
    ...(group.localityWeight !== undefined ? { localityWeight: group.localityWeight } : {}),
    ...(typeof istio['workload'] === 'string' && istio['workload'] ? { workload: istio['workload'] } : {}),
    active: 0,
  };
}

export function compileLoadAssignment(cla: EnvoyClusterLoadAssignment): Endpoint[] {
  const out: Endpoint[] = [];
  cla.endpoints?.forEach((locality, i) => {
    const l = locality.locality;
    const group = {
      priority: locality.priority ?? 0,
      locality: l ? `${l.region ?? ''}/${l.zone ?? ''}/${l.sub_zone ?? ''}` : '',
      ...(locality.load_balancing_weight?.value !== undefined ? { localityWeight: locality.load_balancing_weight.value } : {}),
    };
    locality.lb_endpoints?.forEach((e, j) => {
      out.push(compileEndpoint(e, `ClusterLoadAssignment ${cla.cluster_name} endpoints[${i}].lb_endpoints[${j}]`, group));
    });
  });
  // Pushing leaves spare capacity (17 slots for one endpoint), held as long as the assignment is.
  return out.slice();
}
