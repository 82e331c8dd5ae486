// Narrow views of the Envoy v3 resources the proxy reads (canonical JSON: snake_case, enums as strings).
import type { TypedAny } from '../../xds/any.ts';
import type { XdsDuration } from '../../xds/duration.ts';

/** A ConfigSource's part the proxy reads: how long a resource's initial fetch is waited for (0s: forever). */
export interface ConfigSource {
  initial_fetch_timeout?: XdsDuration;
}

export interface SocketAddress {
  socket_address?: { address?: string; port_value?: number };
}

export interface EnvoyCluster {
  name: string;
  type?: string;
  connect_timeout?: XdsDuration;
  lb_policy?: string;
  eds_cluster_config?: { service_name?: string; eds_config?: ConfigSource };
  load_assignment?: EnvoyClusterLoadAssignment;
  transport_socket?: { name?: string; typed_config?: TypedAny };
  /** Istio's auto mTLS: the mesh's TLS for endpoints labelled `tlsMode: istio`, plaintext for the rest. */
  transport_socket_matches?: { name?: string; match?: unknown; transport_socket?: { name?: string; typed_config?: TypedAny } }[];
  typed_extension_protocol_options?: Record<string, TypedAny>;
  ring_hash_lb_config?: unknown;
  maglev_lb_config?: unknown;
  least_request_lb_config?: unknown;
  round_robin_lb_config?: unknown;
  common_lb_config?: unknown;
  circuit_breakers?: { thresholds?: { max_connections?: { value?: number }; max_pending_requests?: { value?: number }; max_requests?: { value?: number }; max_retries?: { value?: number } }[] };
  metadata?: { filter_metadata?: Record<string, unknown> };
}

export interface EnvoyLbEndpoint {
  endpoint?: { address?: SocketAddress };
  health_status?: string;
  load_balancing_weight?: { value?: number };
  metadata?: { filter_metadata?: Record<string, unknown> };
}

export interface EnvoyClusterLoadAssignment {
  cluster_name: string;
  endpoints?: { lb_endpoints?: EnvoyLbEndpoint[]; priority?: number; locality?: { region?: string; zone?: string; sub_zone?: string }; load_balancing_weight?: { value?: number } }[];
}

export interface EnvoyFilter {
  name?: string;
  typed_config?: TypedAny;
  is_optional?: boolean;
}

export interface EnvoyFilterChainMatch {
  destination_port?: { value?: number };
  prefix_ranges?: { address_prefix?: string; prefix_len?: { value?: number } | number }[];
  server_names?: string[];
  transport_protocol?: string;
  application_protocols?: string[];
}

export interface EnvoyFilterChain {
  name?: string;
  filter_chain_match?: EnvoyFilterChainMatch;
  filters?: EnvoyFilter[];
  transport_socket?: { name?: string; typed_config?: TypedAny };
  /** `filter_metadata.outrigger.hosts`: the service names a chain stands for (the forward proxy's pick). */
  metadata?: { filter_metadata?: Record<string, unknown> };
}

export interface EnvoyListener {
  name: string;
  address?: SocketAddress;
  filter_chains?: EnvoyFilterChain[];
  default_filter_chain?: EnvoyFilterChain;
  bind_to_port?: { value?: boolean };
  /** virtualOutbound: a captured connection is matched by where it was going (SO_ORIGINAL_DST). */
  use_original_dst?: { value?: boolean } | boolean;
}

export interface EnvoyHcm {
  stat_prefix?: string;
  rds?: { route_config_name?: string; config_source?: ConfigSource };
  route_config?: TypedAny;
  http_filters?: EnvoyFilter[];
  upgrade_configs?: { upgrade_type?: string }[];
  normalize_path?: { value?: boolean };
  merge_slashes?: boolean;
  path_with_escaped_slashes_action?: string;
  use_remote_address?: { value?: boolean };
  xff_num_trusted_hops?: number;
  server_name?: string;
  server_header_transformation?: 'OVERWRITE' | 'APPEND_IF_ABSENT' | 'PASS_THROUGH';
  generate_request_id?: { value?: boolean };
  /** `idle_timeout`: a connection without active streams this long is closed (Envoy's 1 h when absent, 0: never). */
  common_http_protocol_options?: { idle_timeout?: XdsDuration; max_stream_duration?: XdsDuration };
}

export interface EnvoyTcpProxy {
  stat_prefix?: string;
  cluster?: string;
  weighted_clusters?: { clusters?: { name?: string; weight?: number }[] };
  /** No byte either way this long closes the connection; absent: Envoy's 1 h, 0: never. */
  idle_timeout?: XdsDuration;
}

export interface EnvoySecret {
  name: string;
  tls_certificate?: { certificate_chain?: { inline_string?: string; inline_bytes?: string }; private_key?: { inline_string?: string; inline_bytes?: string } };
  validation_context?: { trusted_ca?: { inline_string?: string; inline_bytes?: string } };
}
