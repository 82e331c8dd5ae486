// Cluster (CDS) → the immutable settings a cluster runs with; anything the proxy cannot honour throws
// a ProxyConfigError (NACK).
import { durationMs } from '../../xds/duration.ts';
import { TypeUrl } from '../../xds/type-urls.ts';
import { ProxyConfigError } from '../config/config-error.ts';
import type { EnvoyCluster } from '../config/envoy-shapes.ts';
import type { Endpoint } from './endpoint.ts';
import type { LbClusterJson } from './lb/build-load-balancer.ts';
import { buildLoadBalancer } from './lb/build-load-balancer.ts';
import { compileLoadAssignment } from './endpoint.ts';
import { lbDeps } from './cluster.ts';

export type DiscoveryType = 'EDS' | 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'ORIGINAL_DST';

export interface ClusterSettings {
  readonly name: string;
  readonly type: DiscoveryType;
  /** EDS service name to subscribe to (defaults to the cluster name). */
  readonly edsName: string;
  readonly connectTimeoutMs: number;
  readonly lbPolicy: string;
  /** Upstream speaks HTTP/2 (h2c, or h2 through the tunnel). */
  readonly http2: boolean;
  /** Endpoints given inline (STATIC / DNS types). */
  readonly inlineEndpoints: readonly Endpoint[];
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
  /** The cluster's TLS transport socket, as configured (shown in dumps; mesh TLS uses the tunnel). */
  readonly tlsMode: 'none' | 'istio-mutual' | 'simple';
  /** The load-balancing fields of the Cluster, for the load balancer library. */
  readonly lbConfig: LbClusterJson;
  /** Identity of lbConfig, to rebuild the balancer only when it changed. */
  readonly lbKey: string;
}

const types = new Set(['EDS', 'STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'ORIGINAL_DST']);

export function compileCluster(c: EnvoyCluster): ClusterSettings {
  const where = `Cluster ${c.name}`;
  if (!c.name) throw new ProxyConfigError('Cluster', 'name', 'is required');
  const type = c.type ?? (c.eds_cluster_config ? 'EDS' : 'STATIC');
  if (!types.has(type)) throw new ProxyConfigError(where, 'type', `unsupported discovery type ${type}`);
  const lbPolicy = c.lb_policy ?? 'ROUND_ROBIN';
  const lbConfig = c as unknown as LbClusterJson;
  try {
    // Built once here so a bad policy config NACKs the update instead of failing on first use.
    buildLoadBalancer(lbConfig, [], lbDeps({ random: Math.random, now: () => 0 }));
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
  if (ts) {
    if (ts.typed_config?.['@type'] !== TypeUrl.UpstreamTlsContext) {
      throw new ProxyConfigError(where, 'transport_socket', `unsupported transport socket ${String(ts.typed_config?.['@type'] ?? ts.name)}`);
    }
    const sds = JSON.stringify(ts.typed_config);
    tlsMode = sds.includes('"default"') ? 'istio-mutual' : 'simple';
  }
  let inlineEndpoints: Endpoint[] = [];
  if (c.load_assignment) inlineEndpoints = compileLoadAssignment({ ...c.load_assignment, cluster_name: c.name });
  return {
    name: c.name,
    type: type as DiscoveryType,
    edsName: c.eds_cluster_config?.service_name || c.name,
    connectTimeoutMs: durationMs(c.connect_timeout) || 10_000,
    lbPolicy,
    http2: explicit?.http2_protocol_options !== undefined && !useDownstream,
    inlineEndpoints,
    maxConnections: t?.max_connections?.value ?? 1024,
    maxPendingRequests: t?.max_pending_requests?.value ?? 1024,
    maxRequests: t?.max_requests?.value ?? 1024,
    maxRetries: t?.max_retries?.value ?? 3,
    tlsMode,
    lbConfig,
    lbKey: JSON.stringify([c.type, c.lb_policy, c.ring_hash_lb_config, c.maglev_lb_config, c.least_request_lb_config, c.round_robin_lb_config, c.common_lb_config]),
  };
}
