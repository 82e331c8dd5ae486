// Type URLs of every resource and typed extension Outrigger emits or accepts.
const prefix = 'type.googleapis.com/';

export const TypeUrl = {
  Listener: `${prefix}envoy.config.listener.v3.Listener`,
  RouteConfiguration: `${prefix}envoy.config.route.v3.RouteConfiguration`,
  Cluster: `${prefix}envoy.config.cluster.v3.Cluster`,
  ClusterLoadAssignment: `${prefix}envoy.config.endpoint.v3.ClusterLoadAssignment`,
  Secret: `${prefix}envoy.extensions.transport_sockets.tls.v3.Secret`,
  HttpConnectionManager: `${prefix}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
  TcpProxy: `${prefix}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
  NetworkRbac: `${prefix}envoy.extensions.filters.network.rbac.v3.RBAC`,
  Router: `${prefix}envoy.extensions.filters.http.router.v3.Router`,
  HttpRbac: `${prefix}envoy.extensions.filters.http.rbac.v3.RBAC`,
  HttpRbacPerRoute: `${prefix}envoy.extensions.filters.http.rbac.v3.RBACPerRoute`,
  HttpFault: `${prefix}envoy.extensions.filters.http.fault.v3.HTTPFault`,
  PreviousPrioritiesConfig: `${prefix}envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig`,
  Cors: `${prefix}envoy.extensions.filters.http.cors.v3.Cors`,
  CorsPolicy: `${prefix}envoy.extensions.filters.http.cors.v3.CorsPolicy`,
  JwtAuthn: `${prefix}envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication`,
  ExtAuthz: `${prefix}envoy.extensions.filters.http.ext_authz.v3.ExtAuthz`,
  NetworkExtAuthz: `${prefix}envoy.extensions.filters.network.ext_authz.v3.ExtAuthz`,
  UpstreamTlsContext: `${prefix}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
  DownstreamTlsContext: `${prefix}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
  HttpProtocolOptions: `${prefix}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
  TypedStruct: `${prefix}xds.type.v3.TypedStruct`,
} as const;

/** The order in which ADS delivers resource types, as Envoy expects (CDS, EDS, LDS, RDS, SDS). */
export const adsOrder: readonly string[] = [
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
  TypeUrl.Listener,
  TypeUrl.RouteConfiguration,
  TypeUrl.Secret,
];

/** Outrigger's own typed extensions travel in a TypedStruct with one of these type URLs. */
export const OutriggerExtension = {
  Telemetry: 'outrigger.dev/outrigger.telemetry.v1.Telemetry',
  PeerMetadata: 'outrigger.dev/outrigger.peer_metadata.v1.PeerMetadata',
  Tunnel: 'outrigger.dev/outrigger.tunnel.v1.Tunnel',
} as const;
