// Cluster (CDS) → the immutable settings a cluster runs with; anything the proxy cannot honour throws
// a ProxyConfigError (NACK).
import { durationMs, type XdsDuration } from '../../xds/duration.ts';
import { isMeshTlsContext } from '../../xds/mesh-tls-context.ts';
import { TypeUrl } from '../../xds/type-urls.ts';
import { ProxyConfigError } from '../config/config-error.ts';
import type { EnvoyCluster } from '../config/envoy-shapes.ts';
import type { Endpoint } from './endpoint.ts';
import type { LbClusterJson } from './lb/build-load-balancer.ts';
import { buildLoadBalancer } from './lb/build-load-balancer.ts';
import { compileLoadAssignment, structField } from './endpoint.ts';
import { lbDeps } from './cluster.ts';
import { compileMeshSans, compileOriginationTls, type OriginationTls, type UpstreamHttpProtocolOptions } from './origination-tls.ts';
import { CircuitBreakers, type ThresholdsJson } from './circuit-breaker.ts';
import { compileOutlierDetection, type OutlierConfig, type OutlierDetectionJson } from './outlier/outlier-config.ts';

export type DiscoveryType = 'EDS' | 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'ORIGINAL_DST';

export interface ClusterSettings {
  readonly name: string;
  readonly type: DiscoveryType;
  /** EDS service name to subscribe to (defaults to the cluster name). */
  readonly edsName: string;
  /** The EDS config source's initial_fetch_timeout (0: no timeout); absent, Envoy's default. */
  readonly edsInitialFetchTimeoutMs?: number;
  readonly connectTimeoutMs: number;
  readonly lbPolicy: string;
  /** Upstream speaks HTTP/2 (h2c, or h2 through the tunnel). */
  readonly http2: boolean;
  /** `use_downstream_protocol_config`: each request goes upstream in the protocol it arrived in. */
  readonly useDownstreamProtocol: boolean;
  /** Endpoints given inline (STATIC / DNS types). */
  readonly inlineEndpoints: readonly Endpoint[];
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
  /** `circuit_breakers` as configured, for the cluster's CircuitBreakers (validated here). */
  readonly circuitBreakers: { thresholds?: ThresholdsJson[] } | undefined;
  /** Compiled `outlier_detection`, or null when the cluster has none. */
  readonly outlier: OutlierConfig | null;
  /** Close an upstream connection idle this long (HttpProtocolOptions common idle_timeout; Envoy 1 h). */
  readonly idleTimeoutMs: number;
  /** Requests per upstream connection before it is closed (0 = unlimited). */
  readonly maxRequestsPerConnection: number;
  /**
   * `upstream_connection_options.tcp_keepalive`: TCP keep-alive on upstream sockets, first probe after
   * `keepalive_time` (0 = the OS default). Node sets no interval or probe count: the OS defaults apply.
   */
  readonly tcpKeepaliveMs: number | null;
  /** The cluster's TLS transport socket, as configured (shown in dumps; mesh TLS uses the tunnel). */
  readonly tlsMode: 'none' | 'istio-mutual' | 'simple';
  /**
   * Secure naming: the SPIFFE IDs of the service's accounts, of which a meshed endpoint's tunnel must
   * present one (from the mesh TLS context, explicit or auto mTLS). Empty: any identity of the mesh.
   */
  readonly meshSans: readonly string[];
  /**
   * The mesh TLS context's `sni` (Istio's `outbound_.PORT_.SUBSET_.HOST`), explicit or auto mTLS; '' without
   * one. The tunnel's streams carry it to the destination, which sees it as the connection's SNI.
   */
  readonly meshSni: string;
  /**
   * No mesh TLS context and no TLS of its own (a DestinationRule `tls.mode: DISABLE`, auto mTLS off):
   * Istio sends plaintext here, so meshed endpoints, still reached through the tunnel, are asked to
   * serve each request as plaintext (`x-outrigger-transport: raw_buffer`): a STRICT one refuses it.
   */
  readonly meshPlaintext: boolean;
  /** TLS to endpoints outside the tunnel (DestinationRule SIMPLE / MUTUAL); absent = plaintext. */
  readonly origination?: OriginationTls;
  /** ORIGINAL_DST `cleanup_interval`: hosts unused this long are dropped (Envoy's default 5 s when absent). */
  readonly cleanupIntervalMs?: number;
  /**
   * The Cluster resource as received: the load balancer library reads its fields, and an update that
   * changes any of it is a new cluster (Envoy's addOrUpdateCluster compares the hash of all of it).
   */
  readonly resource: LbClusterJson;
  /**
   * `metadata.filter_metadata.istio.services`: the services the cluster stands for (on an inbound cluster,
   * those the workload serves on its port). The telemetry filter names the destination service from them.
   */
  readonly services: readonly ClusterService[];
}

export interface ClusterService {
  readonly host: string;
  readonly name: string;
  readonly namespace: string;
}

/**
 * The well-formed entries of `istio.services`. Envoy treats metadata as opaque and this only names
 * services in telemetry, so a malformed list or entry is skipped rather than refusing the cluster.
 */
function compileSecureNaming(c: EnvoyCluster, where: string): string[] {
  const list = c.metadata ? structField(c.metadata.filter_metadata, 'outrigger')['secure_naming'] : undefined;
  if (list === undefined) return [];
  if (!Array.isArray(list) || list.some((san) => typeof san !== 'string' || san === '')) {
    throw new ProxyConfigError(where, 'metadata.filter_metadata.outrigger.secure_naming', 'must be a list of SPIFFE IDs');
  }
  return list as string[];
}

function compileServices(c: EnvoyCluster): ClusterService[] {
  const list = c.metadata ? structField(c.metadata.filter_metadata, 'istio')['services'] : undefined;
  if (!Array.isArray(list)) return [];
  const out: ClusterService[] = [];
  for (const s of list) {
    const o = (s ?? {}) as Record<string, unknown>;
    if (typeof o['host'] !== 'string' || o['host'] === '') continue;
    out.push({ host: o['host'], name: typeof o['name'] === 'string' ? o['name'] : o['host'], namespace: typeof o['namespace'] === 'string' ? o['namespace'] : '' });
  }
  // Without the spare capacity pushing left: the settings keep this for the cluster's life.
  return out.slice();
}

function sniOf(ctx: Record<string, unknown>): string {
  return typeof ctx['sni'] === 'string' ? ctx['sni'] : '';
}

const types = new Set(['EDS', 'STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'ORIGINAL_DST']);

export function compileCluster(c: EnvoyCluster): ClusterSettings {
  const where = `Cluster ${c.name}`;
  if (!c.name) throw new ProxyConfigError('Cluster', 'name', 'is required');
  const type = c.type ?? (c.eds_cluster_config ? 'EDS' : 'STATIC');
  if (!types.has(type)) throw new ProxyConfigError(where, 'type', `unsupported discovery type ${type}`);
  const lbPolicy = c.lb_policy ?? 'ROUND_ROBIN';
  const resource = c as unknown as LbClusterJson;
  try {
    // Built once here so a bad policy config NACKs the update instead of failing on first use.
    buildLoadBalancer(resource, [], lbDeps({ random: Math.random, now: () => 0 }));
  } catch (err) {
    throw new ProxyConfigError(where, 'lb_policy', err instanceof Error ? err.message : String(err));
  }
  const opts = c.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
  if (opts && opts['@type'] !== TypeUrl.HttpProtocolOptions) {
    throw new ProxyConfigError(where, 'typed_extension_protocol_options', `expected ${TypeUrl.HttpProtocolOptions}`);
  }
  const explicit = opts?.['explicit_http_config'] as { http2_protocol_options?: unknown } | undefined;
  const useDownstream = opts?.['use_downstream_protocol_config'] !== undefined;
  const t = c.circuit_breakers?.thresholds?.[0];
  const ts = c.transport_socket;
  let tlsMode: ClusterSettings['tlsMode'] = 'none';
  let origination: OriginationTls | undefined;
  let meshSans: readonly string[] = [];
  let meshSni = '';
  // Auto mTLS's mesh TLS context (transport_socket_matches), without which a cluster with no TLS of
  // its own is plaintext toward meshed endpoints.
  let autoMesh = false;
  if (ts) {
    if (ts.typed_config?.['@type'] !== TypeUrl.UpstreamTlsContext) {
      throw new ProxyConfigError(where, 'transport_socket', `unsupported transport socket ${String(ts.typed_config?.['@type'] ?? ts.name)}`);
    }
    tlsMode = isMeshTlsContext(ts.typed_config) ? 'istio-mutual' : 'simple';
    if (tlsMode === 'simple') {
      const http = opts?.['upstream_http_protocol_options'] as UpstreamHttpProtocolOptions | undefined;
      origination = compileOriginationTls(ts.typed_config as Parameters<typeof compileOriginationTls>[0], `${where}.transport_socket`, http);
    }
    else {
      meshSans = compileMeshSans(ts.typed_config as Parameters<typeof compileMeshSans>[0], `${where}.transport_socket`);
      meshSni = sniOf(ts.typed_config);
    }
  } else {
    // Auto mTLS: the match for `tlsMode: istio` endpoints carries the mesh TLS context.
    for (const [i, m] of (c.transport_socket_matches ?? []).entries()) {
      const t = m.transport_socket?.typed_config;
      if (t?.['@type'] === TypeUrl.UpstreamTlsContext && isMeshTlsContext(t)) {
        meshSans = compileMeshSans(t as Parameters<typeof compileMeshSans>[0], `${where}.transport_socket_matches[${i}].transport_socket`);
        meshSni = sniOf(t);
        autoMesh = true;
      }
    }
  }
  // No mesh TLS context (DISABLE, SIMPLE, MUTUAL, auto mTLS off): meshed endpoints are still reached
  // through the tunnel, checked against the service's accounts the control plane put in the metadata.
  if (tlsMode !== 'istio-mutual' && meshSans.length === 0) meshSans = compileSecureNaming(c, where);
  const extra = c as unknown as {
    outlier_detection?: OutlierDetectionJson;
    circuit_breakers?: { thresholds?: ThresholdsJson[] };
    max_requests_per_connection?: { value?: number };
    upstream_connection_options?: { tcp_keepalive?: { keepalive_time?: { value?: number } } };
    cleanup_interval?: XdsDuration;
  };
  let outlier: OutlierConfig | null = null;
  try {
    if (extra.outlier_detection) outlier = compileOutlierDetection(extra.outlier_detection, `${where}.outlier_detection`);
    new CircuitBreakers(extra.circuit_breakers, `${where}.circuit_breakers`);
  } catch (err) {
    throw new ProxyConfigError(where, extra.outlier_detection && !outlier ? 'outlier_detection' : 'circuit_breakers', err instanceof Error ? err.message : String(err));
  }
  const common = opts?.['common_http_protocol_options'] as { idle_timeout?: XdsDuration; max_requests_per_connection?: { value?: number } } | undefined;
  const keepalive = extra.upstream_connection_options?.tcp_keepalive;
  let inlineEndpoints: Endpoint[] = [];
  if (c.load_assignment) inlineEndpoints = compileLoadAssignment({ ...c.load_assignment, cluster_name: c.name });
  return {
    name: c.name,
    type: type as DiscoveryType,
    edsName: c.eds_cluster_config?.service_name || c.name,
    ...(c.eds_cluster_config?.eds_config?.initial_fetch_timeout ? { edsInitialFetchTimeoutMs: durationMs(c.eds_cluster_config.eds_config.initial_fetch_timeout) } : {}),
    connectTimeoutMs: durationMs(c.connect_timeout) || 10_000,
    lbPolicy,
    http2: explicit?.http2_protocol_options !== undefined && !useDownstream,
    useDownstreamProtocol: useDownstream,
    inlineEndpoints,
    maxConnections: t?.max_connections?.value ?? 1024,
    maxPendingRequests: t?.max_pending_requests?.value ?? 1024,
    maxRequests: t?.max_requests?.value ?? 1024,
    maxRetries: t?.max_retries?.value ?? 3,
    circuitBreakers: extra.circuit_breakers,
    outlier,
    idleTimeoutMs: common?.idle_timeout !== undefined ? durationMs(common.idle_timeout) : 3_600_000,
    maxRequestsPerConnection: common?.max_requests_per_connection?.value ?? extra.max_requests_per_connection?.value ?? 0,
    tcpKeepaliveMs: keepalive ? (keepalive.keepalive_time?.value ?? 0) * 1000 : null,
    tlsMode,
    meshSans,
    meshSni,
    meshPlaintext: tlsMode === 'none' && !autoMesh,
    ...(origination ? { origination } : {}),
    ...(type === 'ORIGINAL_DST' && extra.cleanup_interval !== undefined && durationMs(extra.cleanup_interval) > 0 ? { cleanupIntervalMs: durationMs(extra.cleanup_interval) } : {}),
    resource,
    services: compileServices(c),
  };
}
