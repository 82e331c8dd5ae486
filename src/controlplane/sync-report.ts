// What the debug API says about each connected proxy: per-type sync state (Istio's proxy-status
// vocabulary) and an Envoy-shaped config dump of what was sent, secrets without private keys.
import type { TypedAny } from '../xds/any.ts';
import type { AdsConnection, SyncStatus } from '../xds/ads-connection.ts';
import { TypeUrl } from '../xds/type-urls.ts';

export const reportTypes = [
  ['CDS', TypeUrl.Cluster],
  ['LDS', TypeUrl.Listener],
  ['EDS', TypeUrl.ClusterLoadAssignment],
  ['RDS', TypeUrl.RouteConfiguration],
  ['SDS', TypeUrl.Secret],
] as const;

export interface TypeSync {
  status: SyncStatus;
  sentVersion?: string;
  ackedVersion?: string;
  resources: number;
  /** When this type last changed for the proxy (ISO) and how long ago, in ms. */
  lastChange?: string;
  sinceChangeMs?: number;
  lastNack?: { version: string; message: string; at: string };
}

export interface ProxySync {
  proxy: string;
  /** `pod.namespace`, as istioctl names a proxy. */
  name: string;
  namespace: string;
  workload: string;
  generator: string;
  /** The version the proxy reports (Istio's `ISTIO_VERSION` node metadata); absent from proxies that send none. */
  proxyVersion?: string;
  connectionId: string;
  peer: string;
  connectedAt: string;
  authenticated: boolean;
  configBytes: number;
  types: Record<string, TypeSync>;
}

export function syncOf(conn: AdsConnection, now: number): ProxySync {
  const types: Record<string, TypeSync> = {};
  for (const [short, url] of reportTypes) {
    const s = conn.types.get(url);
    const t: TypeSync = { status: conn.status(url), resources: s?.sentResources.length ?? 0 };
    if (s?.sentVersion) t.sentVersion = s.sentVersion;
    if (s?.ackedVersion) t.ackedVersion = s.ackedVersion;
    if (s?.sentAt !== undefined) {
      t.lastChange = new Date(s.sentAt).toISOString();
      t.sinceChangeMs = Math.max(0, now - s.sentAt);
    }
    if (s?.lastNack) t.lastNack = { version: s.lastNack.version, message: s.lastNack.message, at: new Date(s.lastNack.at).toISOString() };
    types[short] = t;
  }
  const v = conn.node.view;
  const version = conn.node.metadata['ISTIO_VERSION'];
  return {
    proxy: v.id,
    name: `${conn.node.podName}.${v.namespace}`,
    namespace: v.namespace,
    workload: v.workloadName,
    generator: conn.node.generator,
    ...(typeof version === 'string' && version !== '' ? { proxyVersion: version } : {}),
    connectionId: conn.id,
    peer: conn.peer,
    connectedAt: new Date(conn.connectedAt).toISOString(),
    authenticated: conn.identity !== undefined,
    configBytes: conn.configBytes,
    types,
  };
}

/** Finds a proxy by node id, `pod.namespace`, or a unique prefix of either. */
export function findConnection(conns: readonly AdsConnection[], query: string): AdsConnection | undefined {
  const name = (c: AdsConnection) => `${c.node.podName}.${c.node.view.namespace}`;
  const exact = conns.filter((c) => c.node.view.id === query || name(c) === query);
  if (exact.length) return exact.at(-1);
  const prefixed = conns.filter((c) => c.node.view.id.startsWith(query) || name(c).startsWith(query));
  return new Set(prefixed.map(name)).size === 1 ? prefixed.at(-1) : undefined;
}

/** Why `findConnection` found nothing: no proxy matches the query, or a prefix matches several. */
export function proxyMatchError(conns: readonly AdsConnection[], query: string): string {
  const name = (c: AdsConnection) => `${c.node.podName}.${c.node.view.namespace}`;
  const prefixed = [...new Set(conns.filter((c) => c.node.view.id.startsWith(query) || name(c).startsWith(query)).map(name))].sort();
  if (prefixed.length > 1) return `"${query}" matches more than one proxy: ${prefixed.join(', ')}; name one (pod.namespace)`;
  const known = [...new Set(conns.map(name))].sort();
  return `no connected proxy matches "${query}"; known: ${known.join(', ') || 'none'}`;
}

function redact(secret: TypedAny): TypedAny {
  const tls = secret['tls_certificate'] as Record<string, unknown> | undefined;
  if (!tls || !('private_key' in tls)) return secret;
  return { ...secret, tls_certificate: { ...tls, private_key: { inline_string: '[redacted]' } } };
}

/** The connection's config in the shape of Envoy's `/config_dump`. */
export function configDumpOf(conn: AdsConnection): { configs: TypedAny[] } {
  const state = (url: string) => conn.types.get(url);
  const entries = (url: string) => {
    const s = state(url);
    const version_info = s?.sentVersion ?? '';
    const last_updated = s?.sentAt !== undefined ? new Date(s.sentAt).toISOString() : undefined;
    return { version_info, last_updated, resources: s?.sentResources ?? [] };
  };
  const cds = entries(TypeUrl.Cluster);
  const lds = entries(TypeUrl.Listener);
  const rds = entries(TypeUrl.RouteConfiguration);
  const eds = entries(TypeUrl.ClusterLoadAssignment);
  const sds = entries(TypeUrl.Secret);
  const admin = 'type.googleapis.com/envoy.admin.v3.';
  return {
    configs: [
      { '@type': `${admin}ClustersConfigDump`, version_info: cds.version_info, dynamic_active_clusters: cds.resources.map((cluster) => ({ version_info: cds.version_info, cluster, last_updated: cds.last_updated })) },
      { '@type': `${admin}ListenersConfigDump`, version_info: lds.version_info, dynamic_listeners: lds.resources.map((listener) => ({ name: listener['name'], active_state: { version_info: lds.version_info, listener, last_updated: lds.last_updated } })) },
      { '@type': `${admin}RoutesConfigDump`, dynamic_route_configs: rds.resources.map((route_config) => ({ version_info: rds.version_info, route_config, last_updated: rds.last_updated })) },
      { '@type': `${admin}EndpointsConfigDump`, dynamic_endpoint_configs: eds.resources.map((endpoint_config) => ({ version_info: eds.version_info, endpoint_config, last_updated: eds.last_updated })) },
      { '@type': `${admin}SecretsConfigDump`, dynamic_active_secrets: sds.resources.map((secret) => ({ name: secret['name'], version_info: sds.version_info, last_updated: sds.last_updated, secret: redact(secret) })) },
    ],
  };
}
