// The contract between tcp_proxy and the stats network filter in front of it (`istio.stats` on a TCP
// chain): told once how the upstream went (or that an authorization filter refused the connection), it
// meters the connection's bytes as they flow and reports the close. Shared by the listener
// (tcp-proxy.ts) and the telemetry filter, which never import each other.
import type { ConnectionInfo } from '../http/stream.ts';

/** How tcp_proxy's upstream went: connected (`flags` `-`), or not (`UF`, `UH`, `NC`), or refused before it was dialled. */
export interface TcpUpstreamOutcome {
  readonly clusterName: string | undefined;
  /** `address:port` of the endpoint tried (`%UPSTREAM_HOST%`). */
  readonly upstreamHost: string | undefined;
  /** The endpoint's `istio.workload` metadata (`name;namespace`): who the source tried, without an answer. */
  readonly upstreamWorkload: string | undefined;
  /** The destination sidecar's metadata from the tunnel CONNECT's answer (`x-outrigger-peer`), if any. */
  readonly upstreamPeer: string | undefined;
  /** The SPIFFE ID that sidecar's certificate proved on the tunnel: the principal named, not its claim. */
  readonly upstreamPrincipal?: string | undefined;
  /** The connection is made and is the mesh's mutual TLS (Cluster.meshTls): telemetry names principals only then. */
  readonly upstreamTls?: boolean;
  /** Envoy's `%RESPONSE_FLAGS%`: `-` when none. */
  readonly flags: string;
  /** Why connecting failed (`%UPSTREAM_TRANSPORT_FAILURE_REASON%`). */
  readonly upstreamTransportFailureReason: string | undefined;
  /**
   * Flags a filter set after it had closed the connection (network ext_authz's `UAEX`): Istio's stats
   * filter counts the close as it happens, without them; the access log, written later, shows them.
   */
  readonly flagsAfterClose?: string;
  /** Network RBAC's refusal, `rbac_access_denied_matched_policy[...]` (`%CONNECTION_TERMINATION_DETAILS%`). */
  readonly connectionTerminationDetails?: string;
  /** Network ext_authz's refusal, `ext_authz_denied` or `ext_authz_error` (`%RESPONSE_CODE_DETAILS%`). */
  readonly responseCodeDetails?: string;
  /**
   * The connection's dynamic metadata, when its authorization filters wrote any (network RBAC's
   * `envoy.common` `access_log_hint` for an AUDIT match, its shadow results): `%DYNAMIC_METADATA(...)%`
   * and CEL's `metadata` read it, as Envoy's tcp_proxy access log reads the connection's stream info.
   */
  readonly dynamicMetadata?: ReadonlyMap<string, Readonly<Record<string, unknown>>> | undefined;
}

/** One TCP connection's meter. `received` and `sent` run per chunk: plain counter increments, no allocation. */
export interface TcpConnectionStats {
  /** The upstream is known: the connection counts as opened, on the series its outcome selects. */
  upstream(outcome: TcpUpstreamOutcome): void;
  /** Bytes read from the downstream (`istio_tcp_received_bytes_total`, `%BYTES_RECEIVED%`). */
  received(bytes: number): void;
  /** Bytes written to the downstream (`istio_tcp_sent_bytes_total`, `%BYTES_SENT%`). */
  sent(bytes: number): void;
  /** Both sides closed: the connection counts as closed and is logged. Once. */
  close(): void;
}

export interface NetworkStatsFilter {
  /** A connection the chain takes, before its authorization filters run (its start time is now). */
  begin(connection: ConnectionInfo): TcpConnectionStats;
}
