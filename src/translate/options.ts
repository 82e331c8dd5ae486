// The seams of translation: HTTP filters and TLS settings that other concepts (authorization,
// request authentication, telemetry, client and gateway TLS) plug in without editing the builders.
import type { Gateway } from '../config/resource.ts';
import type { ClientTLSSettings, Server } from '../config/types/networking.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import type { MeshService } from '../model/service.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import type { TypedAny } from '../xds/any.ts';
import { autoMtlsTransport } from './auto-mtls.ts';
import { gatewayDownstreamTls } from './gateway-tls.ts';

export type TrafficDirection = 'outbound' | 'inbound' | 'gateway';

/** One HTTP filter entry of an HTTP connection manager. */
export interface HttpFilterEntry {
  name: string;
  typed_config: TypedAny;
}

/**
 * Adds HTTP filters to the connection manager of one listener port. They run, in list order, before
 * Istio's `cors` and `fault` filters and the router, which translation always appends.
 */
export type HttpFilterBuilder = (
  snapshot: MeshSnapshot,
  proxy: ProxyView,
  port: number,
  direction: TrafficDirection,
) => HttpFilterEntry[];

/**
 * Network filters placed before tcp_proxy on one TCP filter chain, in list order: network RBAC (inbound
 * ports), then Istio's `istio.stats` (every direction). `port` is 0 on a listener's catch-all chain.
 */
export type NetworkFilterBuilder = (snapshot: MeshSnapshot, proxy: ProxyView, port: number, direction: TrafficDirection) => HttpFilterEntry[];

/** The upstream cluster a transport socket is chosen for. */
export interface ClusterTlsContext {
  service: MeshService;
  port: number;
  subset: string;
  /** The DestinationRule `tls` in effect for this cluster (subset and port level applied). */
  tls: ClientTLSSettings | undefined;
  /** Whether every endpoint of the cluster may be reached through a sidecar (auto mTLS applies). */
  clusterName: string;
}

/** What the cluster builder puts on a cluster: a transport socket, or matches per endpoint metadata. */
export interface ClusterTransport {
  transport_socket?: { name: string; typed_config: TypedAny };
  transport_socket_matches?: { name: string; match?: Record<string, unknown>; transport_socket: { name: string; typed_config?: TypedAny } }[];
  /** Merged into the cluster's HttpProtocolOptions: Istio's auto_sni / auto_san_validation for TLS without `sni`. */
  upstream_http_protocol_options?: { auto_sni?: true; auto_san_validation?: true };
}

export type ClientTlsBuilder = (snapshot: MeshSnapshot, proxy: ProxyView, cluster: ClusterTlsContext) => ClusterTransport;

/** The downstream TLS of one gateway server (SIMPLE, MUTUAL, ISTIO_MUTUAL); undefined = plaintext. */
export type GatewayTlsBuilder = (
  snapshot: MeshSnapshot,
  proxy: ProxyView,
  gateway: Gateway,
  server: Server,
) => { name: string; typed_config: TypedAny } | undefined;

export interface TranslateOptions {
  readonly httpFilters: readonly HttpFilterBuilder[];
  readonly tcpFilters: readonly NetworkFilterBuilder[];
  readonly clientTls: ClientTlsBuilder;
  readonly gatewayTls: GatewayTlsBuilder;
}

/** Translation with nothing plugged in: routing, clusters and endpoints only (golden tests of those). */
export const bareTranslateOptions: TranslateOptions = Object.freeze({
  httpFilters: [],
  tcpFilters: [],
  clientTls: autoMtlsTransport,
  // Gateway TLS is routing (which servers terminate, with what), so the bare options have the real one.
  gatewayTls: gatewayDownstreamTls,
});

