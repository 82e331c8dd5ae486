// What CSDS reports for one ADS connection: an envoy.service.status.v3.ClientConfig with one
// GenericXdsConfig per xDS type, in Istio's sync vocabulary (SYNCED, NOT_SENT, STALE) plus the
// proxy's answer (ACKED, NACKED with the reason) and, unless excluded, the config dump of that type.
import type { TypedAny, WireAny } from './any.ts';
import { packAny, toStruct } from './any.ts';
import type { AdsConnection, TypeState } from './ads-connection.ts';
import { TypeUrl } from './type-urls.ts';

const admin = 'type.googleapis.com/envoy.admin.v3.';

/** The types CSDS reports, as Istio's syncz does (secrets are never dumped). */
export const clientStatusTypes: readonly string[] = [TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Secret];

export interface Timestamp {
  seconds: string;
  nanos: number;
}

export interface GenericXdsConfig {
  type_url: string;
  version_info?: string;
  config_status: 'SYNCED' | 'NOT_SENT' | 'STALE';
  client_status: 'REQUESTED' | 'ACKED' | 'NACKED';
  last_updated?: Timestamp;
  error_state?: { details: string; version_info: string; last_update_attempt: Timestamp };
  xds_config?: WireAny;
}

export interface ClientConfig {
  node: { id: string; cluster?: string; metadata: unknown };
  generic_xds_configs: GenericXdsConfig[];
}

export function timestampOf(ms: number): Timestamp {
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

export function clientConfigOf(conn: AdsConnection, includeResources: boolean): ClientConfig {
  const configs: GenericXdsConfig[] = [];
  for (const typeUrl of clientStatusTypes) {
    const s = conn.types.get(typeUrl);
    // A proxy's unsubscribed type is NOT_SENT, as in Istio (proxyless clients list only what they watch).
    if (!s?.subscribed && conn.node.generator === 'grpc') continue;
    const status = conn.status(typeUrl);
    const c: GenericXdsConfig = {
      type_url: typeUrl,
      config_status: status === 'NOT SENT' ? 'NOT_SENT' : status,
      client_status: clientStatusOf(s),
    };
    if (s?.sentVersion) c.version_info = s.sentVersion;
    if (s?.sentAt !== undefined) c.last_updated = timestampOf(s.sentAt);
    if (s?.lastNack && s.lastNack.nonce === s.sentNonce) {
      c.error_state = { details: s.lastNack.message, version_info: s.lastNack.version, last_update_attempt: timestampOf(s.lastNack.at) };
    }
    if (includeResources && s && s.sentResources.length > 0 && typeUrl !== TypeUrl.Secret) c.xds_config = dumpOf(typeUrl, s);
    configs.push(c);
  }
  const node: ClientConfig['node'] = { id: conn.node.view.id, metadata: toStruct(conn.node.metadata) };
  return { node, generic_xds_configs: configs };
}

function clientStatusOf(s: TypeState | undefined): GenericXdsConfig['client_status'] {
  if (!s?.sentNonce) return 'REQUESTED';
  if (s.ackedNonce === s.sentNonce) return 'ACKED';
  if (s.lastNack?.nonce === s.sentNonce) return 'NACKED';
  return 'REQUESTED';
}

/** The type's part of Envoy's config_dump, for what was last sent to this proxy. */
function dumpOf(typeUrl: string, s: TypeState): WireAny {
  const version_info = s.sentVersion ?? '';
  const last_updated = s.sentAt !== undefined ? timestampOf(s.sentAt) : undefined;
  const rs = s.sentResources;
  switch (typeUrl) {
    case TypeUrl.Listener:
      return packAny(`${admin}ListenersConfigDump`, { version_info, dynamic_listeners: rs.map((listener) => ({ name: listener['name'], active_state: { version_info, listener: wire(listener), last_updated } })) });
    case TypeUrl.RouteConfiguration:
      return packAny(`${admin}RoutesConfigDump`, { dynamic_route_configs: rs.map((r) => ({ version_info, route_config: wire(r), last_updated })) });
    case TypeUrl.Cluster:
      return packAny(`${admin}ClustersConfigDump`, { version_info, dynamic_active_clusters: rs.map((cluster) => ({ version_info, cluster: wire(cluster), last_updated })) });
    default:
      return packAny(`${admin}EndpointsConfigDump`, { dynamic_endpoint_configs: rs.map((e) => ({ version_info, endpoint_config: wire(e), last_updated })) });
  }
}

function wire(resource: TypedAny): WireAny {
  return packAny(resource['@type'], resource);
}
