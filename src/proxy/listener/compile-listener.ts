// Listener (LDS) → filter chains with their match, TLS and network filter (HCM or tcp_proxy), compiled
// once. An HCM with `rds` names its route configuration; an inline route_config is compiled here.
import { isIP } from 'node:net';
import { fromStruct, readTypedStruct, type TypedAny } from '../../xds/any.ts';
import { OutriggerExtension, TypeUrl } from '../../xds/type-urls.ts';
import { durationMs } from '../../xds/duration.ts';
import { compileWeightedPick } from '../cluster/weighted-pick.ts';
import { ProxyConfigError } from '../config/config-error.ts';
import type { EnvoyFilter, EnvoyFilterChain, EnvoyFilterChainMatch, EnvoyHcm, EnvoyListener, EnvoyTcpProxy } from '../config/envoy-shapes.ts';
import { type CidrPredicate, compileCidr } from '../filters/rbac/cidr-matcher.ts';
import type { CidrRange } from '../filters/rbac/rbac-types.ts';
import { compileNetworkExtAuthz } from '../filters/ext_authz/network-filter.ts';
import type { NetworkAuthzFilter } from '../filters/network-authz.ts';
import type { NetworkStatsFilter } from '../filters/network-stats.ts';
import { compileNetworkRbac } from '../filters/rbac/network-filter.ts';
import { compileForwardClientCert, type ForwardClientCert } from '../http/connection-manager.ts';
import type { ChainedFilter, HttpFilterRegistry } from '../http/filter-registry.ts';
import { compilePathNormalizer, type PathNormalizationMode, type PathNormalizer } from '../http/normalize-path.ts';
import type { RouteTable } from '../http/route/index.ts';
import { compileStreamTimeouts, type StreamTimeoutConfig } from '../http/stream-timeouts.ts';
import { compileDetection, type Detection, hasListenerFilter, type ListenerFilterFields } from './detect-protocol.ts';
import { withMisdirectedCheck } from '../tls/misdirected-request.ts';
import { compileDownstreamTls, type DownstreamTls } from '../tls/downstream-tls.ts';
import { TlsConfigError } from '../tls/server-tls-params.ts';

export interface HttpChain {
  readonly kind: 'http';
  readonly statPrefix: string;
  readonly rdsName?: string;
  /** The RDS config source's initial_fetch_timeout (0: no timeout); absent, Envoy's default. */
  readonly rdsInitialFetchTimeoutMs?: number;
  readonly inlineRoutes?: RouteTable;
  readonly filters: readonly ChainedFilter[];
  readonly websocket: boolean;
  /** Path normalisation from the HCM's normalize_path / merge_slashes / path_with_escaped_slashes_action. */
  readonly normalize: PathNormalizer;
  /** An edge (gateway) HCM: the client address comes from the peer and `xffTrustedHops` XFF entries. */
  readonly useRemoteAddress: boolean;
  readonly xffTrustedHops: number;
  /** forward_client_cert_details and set_current_client_cert_details (Istio sets them on gateways). */
  readonly forwardClientCert?: ForwardClientCert;
  /** stream_idle_timeout and max_stream_duration; absent: no per-stream timers. */
  readonly streamTimeouts?: StreamTimeoutConfig;
  /** The Server header of every response (server_name, server_header_transformation); null passes the upstream's. */
  readonly serverHeader: ServerHeader | null;
  /** The router's suppress_envoy_headers: no x-envoy-* headers of its own on requests or responses. */
  readonly suppressEnvoyHeaders: boolean;
  /** generate_request_id (on unless false): an x-request-id for a request without one. */
  readonly generateRequestId: boolean;
  /**
   * common_http_protocol_options.idle_timeout in ms: an HTTP/2 session without active streams this long
   * is sent GOAWAY and closed (Envoy's 1 h when absent; 0: never).
   */
  readonly connectionIdleMs?: number;
}

/** Envoy's default HCM connection `idle_timeout` (common_http_protocol_options). */
export const HCM_IDLE_TIMEOUT_MS = 3_600_000;

/** Envoy's default server_name is `envoy`; OVERWRITE (the default) sets it on every response, APPEND_IF_ABSENT only where none. */
export interface ServerHeader {
  readonly name: string;
  readonly overwrite: boolean;
}

function compileServerHeader(hcm: { server_name?: string; server_header_transformation?: string }): ServerHeader | null {
  const mode = hcm.server_header_transformation ?? 'OVERWRITE';
  if (mode === 'PASS_THROUGH') return null;
  return { name: hcm.server_name || 'envoy', overwrite: mode !== 'APPEND_IF_ABSENT' };
}

function routerSuppressesHeaders(filters: readonly EnvoyFilter[]): boolean {
  const router = filters.find((f) => f.name === 'envoy.filters.http.router' || f.typed_config?.['@type'] === TypeUrl.Router);
  return router?.typed_config?.['suppress_envoy_headers'] === true;
}

/** Istio's meshConfig.pathNormalization, as it maps onto the HCM fields (see translate/network-filters.ts). */
export function hcmNormalizationMode(hcm: EnvoyHcm): PathNormalizationMode {
  const h = hcm as EnvoyHcm & { normalize_path?: { value?: boolean }; merge_slashes?: boolean; path_with_escaped_slashes_action?: string };
  if (h.normalize_path?.value === false) return 'NONE';
  if (!h.merge_slashes) return 'BASE';
  return h.path_with_escaped_slashes_action === 'UNESCAPE_AND_FORWARD' ? 'DECODE_AND_MERGE_SLASHES' : 'MERGE_SLASHES';
}


export interface TcpChain {
  readonly kind: 'tcp';
  readonly statPrefix: string;
  pickCluster(random: number): string;
  /** `envoy.filters.network.rbac` and `ext_authz` filters in front of tcp_proxy, in order, once per connection. */
  readonly authz: readonly NetworkAuthzFilter[];
  /** `istio.stats` in front of tcp_proxy: Istio's TCP metrics and access log. */
  readonly stats?: NetworkStatsFilter;
  /** tcp_proxy's `idle_timeout` in ms (Envoy's 1 h when absent; 0: none). */
  readonly idleTimeoutMs?: number;
}

export type { DownstreamTls };

export interface FilterChain {
  readonly name: string;
  readonly destinationPort?: number;
  /** `prefix_ranges`: the destination addresses a chain takes (a service's addresses), longest prefix first. */
  readonly destinationRanges?: readonly CidrPredicate[];
  readonly serverNames?: readonly string[];
  readonly transportProtocol?: string;
  readonly alpn?: readonly string[];
  readonly tls?: DownstreamTls;
  /**
   * The service names (and `name:port`) an outbound chain stands for, from `filter_metadata.outrigger.hosts`:
   * in process mode there is no service address to match, so the forward proxy picks a CONNECT's chain by name.
   */
  readonly hosts?: ReadonlySet<string>;
  readonly handler: HttpChain | TcpChain;
}

export interface CompiledListener {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly chains: readonly FilterChain[];
  readonly defaultChain?: FilterChain;
  /** False for Istio's per-port outbound listeners, reached through virtualOutbound. */
  readonly bindToPort: boolean;
  /** tls_inspector / http_inspector: plaintext connections are sniffed before chain selection. */
  readonly detection?: Detection;
  /**
   * The `original_dst` listener filter (which `use_original_dst` implies, as in Envoy): a connection
   * iptables redirected here is matched, and reported, by where it was going.
   */
  readonly originalDst?: boolean;
  /** `use_original_dst`: such a connection is handed to the listener for its original port, if there is one. */
  readonly useOriginalDst?: boolean;
  /** `connect_terminate`: its chain's TLS (the trust domains' SAN matchers), read by the tunnel server per handshake. */
  readonly tunnelTls?: DownstreamTls;
}

export interface ListenerCompileContext {
  filters: HttpFilterRegistry;
  compileRoutes(rc: TypedAny): RouteTable;
}

function compileTls(ts: EnvoyFilterChain['transport_socket'], where: string): DownstreamTls | undefined {
  if (!ts) return undefined;
  const tc = ts.typed_config;
  if (tc?.['@type'] !== TypeUrl.DownstreamTlsContext) throw new ProxyConfigError(where, 'transport_socket', `unsupported transport socket ${String(tc?.['@type'] ?? ts.name)}`);
  try {
    return compileDownstreamTls(tc);
  } catch (err) {
    if (err instanceof TlsConfigError) throw new ProxyConfigError(`${where}.transport_socket.typed_config.common_tls_context`, err.field, err.message);
    throw err;
  }
}

function compileTcp(tp: EnvoyTcpProxy, where: string): TcpChain {
  const statPrefix = tp.stat_prefix ?? '';
  const idleTimeoutMs = tp.idle_timeout === undefined ? TCP_PROXY_IDLE_TIMEOUT_MS : durationMs(tp.idle_timeout);
  if (tp.cluster) {
    const name = tp.cluster;
    return { kind: 'tcp', statPrefix, pickCluster: () => name, authz: [], idleTimeoutMs };
  }
  const list = (tp.weighted_clusters?.clusters ?? []).map((c) => ({ name: c.name ?? '', weight: c.weight ?? 0 }));
  const total = list.reduce((s, c) => s + c.weight, 0);
  if (!list.length || total <= 0) throw new ProxyConfigError(where, 'tcp_proxy', 'cluster or weighted_clusters is required');
  return { kind: 'tcp', statPrefix, pickCluster: compileWeightedPick(list), authz: [], idleTimeoutMs };
}

/** Envoy's default tcp_proxy `idle_timeout`. */
export const TCP_PROXY_IDLE_TIMEOUT_MS = 3_600_000;

function compileChain(fc: EnvoyFilterChain, where: string, ctx: ListenerCompileContext): FilterChain {
  const filters = fc.filters ?? [];
  let handler: HttpChain | TcpChain | undefined;
  const authz: NetworkAuthzFilter[] = [];
  let stats: NetworkStatsFilter | undefined;
  filters.forEach((f, i) => {
    const at = `${where}.filters[${i}]`;
    const type = f.typed_config?.['@type'];
    if (type === TypeUrl.HttpConnectionManager) {
      const hcm = f.typed_config as unknown as EnvoyHcm;
      if (!hcm.rds?.route_config_name && !hcm.route_config) throw new ProxyConfigError(at, 'rds', 'rds or route_config is required');
      let forwardClientCert: ForwardClientCert | undefined;
      try {
        forwardClientCert = compileForwardClientCert(hcm as Parameters<typeof compileForwardClientCert>[0]);
      } catch (err) {
        throw new ProxyConfigError(at, 'forward_client_cert_details', err instanceof Error ? err.message : String(err));
      }
      handler = {
        kind: 'http',
        statPrefix: hcm.stat_prefix ?? '',
        ...(hcm.rds?.route_config_name ? { rdsName: hcm.rds.route_config_name } : {}),
        ...(hcm.rds?.config_source?.initial_fetch_timeout ? { rdsInitialFetchTimeoutMs: durationMs(hcm.rds.config_source.initial_fetch_timeout) } : {}),
        ...(hcm.route_config ? { inlineRoutes: ctx.compileRoutes(hcm.route_config) } : {}),
        filters: ctx.filters.compileChain(hcm.http_filters ?? [], at),
        websocket: (hcm.upgrade_configs ?? []).some((u) => u.upgrade_type?.toLowerCase() === 'websocket'),
        normalize: compilePathNormalizer(hcmNormalizationMode(hcm)),
        useRemoteAddress: hcm.use_remote_address?.value === true,
        xffTrustedHops: hcm.xff_num_trusted_hops ?? 0,
        ...(forwardClientCert ? { forwardClientCert } : {}),
        streamTimeouts: compileStreamTimeouts(hcm as Parameters<typeof compileStreamTimeouts>[0]),
        serverHeader: compileServerHeader(hcm),
        suppressEnvoyHeaders: routerSuppressesHeaders(hcm.http_filters ?? []),
        generateRequestId: hcm.generate_request_id?.value !== false,
        connectionIdleMs: hcm.common_http_protocol_options?.idle_timeout === undefined ? HCM_IDLE_TIMEOUT_MS : durationMs(hcm.common_http_protocol_options.idle_timeout),
      };
    } else if (type === TypeUrl.TcpProxy) {
      handler = compileTcp(f.typed_config as unknown as EnvoyTcpProxy, at);
    } else if (type === TypeUrl.NetworkRbac || type === TypeUrl.NetworkExtAuthz) {
      try {
        const tc = f.typed_config as TypedAny;
        authz.push(type === TypeUrl.NetworkRbac ? { kind: 'rbac', rbac: compileNetworkRbac(tc) } : { kind: 'ext_authz', extAuthz: compileNetworkExtAuthz(tc) });
      } catch (err) {
        throw new ProxyConfigError(at, 'typed_config', err instanceof Error ? err.message : String(err));
      }
    } else {
      const compiled = ctx.filters.compileNetwork(f, at);
      if (compiled === null) {
        if (!f.is_optional) throw new ProxyConfigError(at, 'typed_config', `unsupported network filter ${f.name} (${String(type)})`);
      } else if (handler) throw new ProxyConfigError(at, 'typed_config', `${f.name} must come before tcp_proxy`);
      else stats = compiled;
    }
  });
  if (!handler) throw new ProxyConfigError(where, 'filters', 'needs http_connection_manager or tcp_proxy');
  if (authz.length > 0) {
    if (handler.kind !== 'tcp') throw new ProxyConfigError(where, 'filters', 'envoy.filters.network.rbac and ext_authz are supported in front of tcp_proxy only');
    handler = { ...handler, authz };
  }
  if (stats) {
    if (handler.kind !== 'tcp') throw new ProxyConfigError(where, 'filters', 'istio.stats is a network filter in front of tcp_proxy only (an HTTP chain has it among its http_filters)');
    handler = { ...handler, stats };
  }
  const m = fc.filter_chain_match ?? {};
  const tls = compileTls(fc.transport_socket, where);
  const ranges = compileRanges(m.prefix_ranges, `${where}.filter_chain_match`);
  const hosts = chainHosts(fc.metadata?.filter_metadata);
  return {
    name: fc.name ?? '',
    ...(m.destination_port?.value !== undefined ? { destinationPort: m.destination_port.value } : {}),
    ...(ranges ? { destinationRanges: ranges } : {}),
    ...(m.server_names?.length ? { serverNames: m.server_names.map((s) => s.toLowerCase()) } : {}),
    ...(m.transport_protocol ? { transportProtocol: m.transport_protocol } : {}),
    ...(m.application_protocols?.length ? { alpn: m.application_protocols } : {}),
    ...(tls ? { tls } : {}),
    ...(hosts ? { hosts } : {}),
    // A gateway's HTTPS chain answers 421 to a Host outside its server names (src/proxy/tls/misdirected-request.ts).
    handler: handler.kind === 'http' ? withMisdirectedCheck(handler, m.server_names, tls !== undefined) : handler,
  };
}

function compileRanges(raw: EnvoyFilterChainMatch['prefix_ranges'], where: string): CidrPredicate[] | undefined {
  if (!raw?.length) return undefined;
  return raw.map((r, i) => {
    try {
      return compileCidr(r as CidrRange, `prefix_ranges[${i}]`, { socket: true });
    } catch (err) {
      throw new ProxyConfigError(where, `prefix_ranges[${i}]`, err instanceof Error ? err.message : String(err));
    }
  }).sort((a, b) => b.prefixLen - a.prefixLen);
}

function chainHosts(meta: Record<string, unknown> | undefined): ReadonlySet<string> | undefined {
  const raw = meta?.['outrigger'];
  if (!raw || typeof raw !== 'object') return undefined;
  // Struct values decode as `{ fields: ... }`; plain JSON is accepted too.
  const hosts = ('fields' in raw ? fromStruct(raw) : (raw as Record<string, unknown>))['hosts'];
  return Array.isArray(hosts) && hosts.length ? new Set(hosts.map((h) => String(h).toLowerCase())) : undefined;
}

/** The tunnel listener's only filter: it hands streams to `virtualInbound` (docs/internals.md §5). */
function checkTunnelChains(l: EnvoyListener, where: string): void {
  (l.filter_chains ?? []).forEach((fc, i) => {
    const filters = fc.filters ?? [];
    const at = `${where}.filter_chains[${i}].filters`;
    if (filters.length !== 1) throw new ProxyConfigError(at, 'filters', 'the tunnel listener takes exactly one outrigger.tunnel filter');
    try {
      const cfg = readTypedStruct(filters[0]?.typed_config, OutriggerExtension.Tunnel);
      if (cfg['inbound_listener'] !== 'virtualInbound') throw new Error(`inbound_listener must be virtualInbound, got ${String(cfg['inbound_listener'])}`);
    } catch (err) {
      throw new ProxyConfigError(`${at}[0]`, 'typed_config', err instanceof Error ? err.message : String(err));
    }
  });
}

export function compileListener(l: EnvoyListener, ctx: ListenerCompileContext): CompiledListener {
  const where = `Listener ${l.name}`;
  const sa = l.address?.socket_address;
  if (!sa || sa.port_value === undefined) throw new ProxyConfigError(where, 'address.socket_address', 'address and port_value are required');
  // Envoy takes an IP only (a name would be resolved by the bind, which LDS waits on).
  if (sa.address && isIP(sa.address) === 0) throw new ProxyConfigError(where, 'address.socket_address.address', `malformed IP address: ${sa.address}`);
  if (l.name === 'connect_terminate') {
    checkTunnelChains(l, where);
    const fc = l.filter_chains?.[0];
    const tunnelTls = fc ? compileTls(fc.transport_socket, `${where}.filter_chains[0]`) : undefined;
    return { name: l.name, address: sa.address || '0.0.0.0', port: sa.port_value, chains: [], bindToPort: true, ...(tunnelTls ? { tunnelTls } : {}) };
  }
  const chains = (l.filter_chains ?? []).map((fc, i) => compileChain(fc, `${where}.filter_chains[${i}]`, ctx));
  const defaultChain = l.default_filter_chain ? compileChain(l.default_filter_chain, `${where}.default_filter_chain`, ctx) : undefined;
  let detection: Detection | undefined;
  try {
    detection = compileDetection(l as EnvoyListener & ListenerFilterFields);
  } catch (err) {
    throw new ProxyConfigError(where, 'listener_filters', err instanceof Error ? err.message : String(err));
  }
  const od = l.use_original_dst;
  const useOriginalDst = typeof od === 'boolean' ? od : od?.value === true;
  const originalDst = useOriginalDst || hasListenerFilter(l as EnvoyListener & ListenerFilterFields, 'original_dst');
  return {
    name: l.name,
    address: sa.address || '0.0.0.0',
    port: sa.port_value,
    chains,
    bindToPort: l.bind_to_port?.value ?? true,
    ...(defaultChain ? { defaultChain } : {}),
    ...(detection ? { detection } : {}),
    ...(originalDst ? { originalDst } : {}),
    ...(useOriginalDst ? { useOriginalDst } : {}),
  };
}
