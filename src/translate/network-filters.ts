// The two network filters every listener is made of: the HTTP connection manager (RDS or inline
// routes, injected HTTP filters, then cors, fault and router) and tcp_proxy (one or weighted clusters).
import type { MeshSnapshot } from '../model/snapshot.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import type { HttpFilterEntry, TranslateOptions, TrafficDirection } from './options.ts';

export interface HcmInputs {
  statPrefix: string;
  port: number;
  direction: TrafficDirection;
  /** RDS route configuration name, or an inline route configuration. */
  rds?: string;
  routeConfig?: Record<string, unknown>;
}

export function buildHttpConnectionManager(
  snapshot: MeshSnapshot,
  proxy: ProxyView,
  options: TranslateOptions,
  inputs: HcmInputs,
): { name: string; typed_config: Record<string, unknown> } {
  const filters: HttpFilterEntry[] = [];
  for (const build of options.httpFilters) filters.push(...build(snapshot, proxy, inputs.port, inputs.direction));
  if (inputs.direction !== 'inbound') {
    // Always present so per-route CORS and fault configs take effect (Istio does the same).
    filters.push({ name: 'envoy.filters.http.cors', typed_config: { '@type': TypeUrl.Cors } });
    filters.push({ name: 'envoy.filters.http.fault', typed_config: { '@type': TypeUrl.HttpFault } });
  }
  filters.push({ name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } });
  const hcm: Record<string, unknown> = {
    '@type': TypeUrl.HttpConnectionManager,
    stat_prefix: inputs.statPrefix,
    http_filters: filters,
    use_remote_address: { value: inputs.direction === 'gateway' },
    ...(inputs.direction === 'gateway' && trustedHops(snapshot) > 0 ? { xff_num_trusted_hops: trustedHops(snapshot) } : {}),
    normalize_path: { value: snapshot.mesh.pathNormalization !== 'NONE' },
    upgrade_configs: [{ upgrade_type: 'websocket' }],
  };
  const norm = snapshot.mesh.pathNormalization;
  if (norm === 'MERGE_SLASHES' || norm === 'DECODE_AND_MERGE_SLASHES') hcm['merge_slashes'] = true;
  if (norm === 'DECODE_AND_MERGE_SLASHES') hcm['path_with_escaped_slashes_action'] = 'UNESCAPE_AND_FORWARD';
  if (inputs.rds !== undefined) hcm['rds'] = { route_config_name: inputs.rds, config_source: { ads: {}, resource_api_version: 'V3' } };
  else hcm['route_config'] = inputs.routeConfig;
  return { name: 'envoy.filters.network.http_connection_manager', typed_config: hcm };
}

/** A tcp_proxy to one cluster, or split by weight. */
export function buildTcpProxy(statPrefix: string, targets: readonly { cluster: string; weight?: number }[]): { name: string; typed_config: Record<string, unknown> } {
  const config: Record<string, unknown> = { '@type': TypeUrl.TcpProxy, stat_prefix: statPrefix };
  if (targets.length === 1) config['cluster'] = targets[0]!.cluster;
  else config['weighted_clusters'] = { clusters: targets.map((t) => ({ name: t.cluster, weight: t.weight ?? 0 })) };
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: config };
}

/** meshConfig.defaultConfig.gatewayTopology.numTrustedProxies: proxies in front of the gateways. */
function trustedHops(snapshot: MeshSnapshot): number {
  const topology = snapshot.mesh.raw.defaultConfig?.['gatewayTopology'] as { numTrustedProxies?: number } | undefined;
  return topology?.numTrustedProxies ?? 0;
}
