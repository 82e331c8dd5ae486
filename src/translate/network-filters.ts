// The two network filters every listener is made of: the HTTP connection manager (RDS or inline
// routes, injected HTTP filters with fault and cors before istio.stats, then router) and tcp_proxy (one
// or weighted clusters, behind the injected network filters).
import type { ProxyHeaderSettings } from '../model/mesh-config.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import type { HttpFilterEntry, TranslateOptions, TrafficDirection } from './options.ts';

const FAULT_FILTER: HttpFilterEntry = Object.freeze({ name: 'envoy.filters.http.fault', typed_config: Object.freeze({ '@type': TypeUrl.HttpFault }) });
const CORS_FILTER: HttpFilterEntry = Object.freeze({ name: 'envoy.filters.http.cors', typed_config: Object.freeze({ '@type': TypeUrl.Cors }) });

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
  // Istio's buildHTTPConnectionManager, on every listener class: authn and authz, then fault and cors
  // (always present, so per-route configs take effect), then the Telemetry filters, then the router.
  // So a request fault or cors answers is one istio.stats never saw the head of.
  const stats = filters.findIndex((f) => f.name === 'istio.stats');
  filters.splice(stats < 0 ? filters.length : stats, 0, FAULT_FILTER, CORS_FILTER);
  const headers = snapshot.mesh.proxyHeaders;
  filters.push({ name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router, ...(headers.envoyDebugHeaders ? {} : { suppress_envoy_headers: true }) } });
  const hcm: Record<string, unknown> = {
    '@type': TypeUrl.HttpConnectionManager,
    stat_prefix: inputs.statPrefix,
    http_filters: filters,
    use_remote_address: { value: inputs.direction === 'gateway' },
    ...(inputs.direction === 'gateway' && trustedHops(snapshot) > 0 ? { xff_num_trusted_hops: trustedHops(snapshot) } : {}),
    ...(inputs.direction === 'gateway' ? gatewayClientCert(snapshot) : {}),
    normalize_path: { value: snapshot.mesh.pathNormalization !== 'NONE' },
    upgrade_configs: [{ upgrade_type: 'websocket' }],
    ...serverHeader(headers, inputs.direction),
    ...(headers.requestId ? {} : { generate_request_id: { value: false } }),
  };
  const norm = snapshot.mesh.pathNormalization;
  if (norm === 'MERGE_SLASHES' || norm === 'DECODE_AND_MERGE_SLASHES') hcm['merge_slashes'] = true;
  if (norm === 'DECODE_AND_MERGE_SLASHES') hcm['path_with_escaped_slashes_action'] = 'UNESCAPE_AND_FORWARD';
  if (inputs.rds !== undefined) hcm['rds'] = { route_config_name: inputs.rds, config_source: { ads: {}, resource_api_version: 'V3' } };
  else hcm['route_config'] = inputs.routeConfig;
  return { name: 'envoy.filters.network.http_connection_manager', typed_config: hcm };
}

export interface TcpInputs {
  statPrefix: string;
  /** The chain's port (0 for a catch-all chain). */
  port: number;
  direction: TrafficDirection;
  targets: readonly { cluster: string; weight?: number }[];
}

/** A TCP chain's network filters: the injected ones (network RBAC, istio.stats), then tcp_proxy. */
export function buildTcpFilters(snapshot: MeshSnapshot, proxy: ProxyView, options: TranslateOptions, inputs: TcpInputs): { name: string; typed_config: Record<string, unknown> }[] {
  const filters: { name: string; typed_config: Record<string, unknown> }[] = [];
  for (const build of options.tcpFilters) filters.push(...build(snapshot, proxy, inputs.port, inputs.direction));
  filters.push(buildTcpProxy(inputs.statPrefix, inputs.targets));
  return filters;
}

/** A tcp_proxy to one cluster, or split by weight. */
export function buildTcpProxy(statPrefix: string, targets: readonly { cluster: string; weight?: number }[]): { name: string; typed_config: Record<string, unknown> } {
  const config: Record<string, unknown> = { '@type': TypeUrl.TcpProxy, stat_prefix: statPrefix };
  if (targets.length === 1) config['cluster'] = targets[0]!.cluster;
  else config['weighted_clusters'] = { clusters: targets.map((t) => ({ name: t.cluster, weight: t.weight ?? 0 })) };
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: config };
}

const FORWARD_CLIENT_CERT = new Set(['SANITIZE', 'FORWARD_ONLY', 'APPEND_FORWARD', 'SANITIZE_SET', 'ALWAYS_FORWARD_ONLY']);

/**
 * Istio's buildGatewayConnectionManager: a gateway replaces any x-forwarded-client-cert with the verified
 * client certificate's details (SANITIZE_SET with Subject, Cert, URI, DNS), or whatever
 * meshConfig.defaultConfig.gatewayTopology.forwardClientCertDetails says (UNDEFINED keeps the default).
 */
function gatewayClientCert(snapshot: MeshSnapshot): Record<string, unknown> {
  const topology = snapshot.mesh.raw.defaultConfig?.['gatewayTopology'] as { forwardClientCertDetails?: string } | undefined;
  const configured = topology?.forwardClientCertDetails;
  return {
    forward_client_cert_details: configured !== undefined && FORWARD_CLIENT_CERT.has(configured) ? configured : 'SANITIZE_SET',
    set_current_client_cert_details: { subject: { value: true }, cert: true, uri: true, dns: true },
  };
}

/** meshConfig.defaultConfig.gatewayTopology.numTrustedProxies: proxies in front of the gateways. */
function trustedHops(snapshot: MeshSnapshot): number {
  const topology = snapshot.mesh.raw.defaultConfig?.['gatewayTopology'] as { numTrustedProxies?: number } | undefined;
  return topology?.numTrustedProxies ?? 0;
}

/**
 * The Server header as Istio has it: every HCM overwrites it, with `istio-envoy` on inbound listeners
 * and gateways and Envoy's default `envoy` on a sidecar's outbound ones (kept by Istio for
 * compatibility); proxyHeaders.server renames it or, disabled, passes the upstream's through.
 */
function serverHeader(h: ProxyHeaderSettings, direction: HcmInputs['direction']): Record<string, unknown> {
  if (!h.server) return { server_header_transformation: 'PASS_THROUGH' };
  const name = h.serverName ?? (direction === 'outbound' ? undefined : 'istio-envoy');
  return name === undefined ? {} : { server_name: name };
}
