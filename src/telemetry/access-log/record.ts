// What one finished HTTP stream or TCP connection tells the access log: the fields Envoy's command
// operators read. A TCP connection has no method, path or protocol (`''`, logged as `-`) and code 0.

export interface AccessLogRecord {
  /** Epoch milliseconds of the first request byte. */
  startTime: number;
  method: string;
  /** Path with query, as the client sent it after normalisation. */
  path: string;
  /** `HTTP/1.1` or `HTTP/2`. */
  protocol: string;
  responseCode: number;
  /** Envoy's `%RESPONSE_FLAGS%`: `-` when none. */
  responseFlags: string;
  responseCodeDetails: string;
  bytesReceived: number;
  bytesSent: number;
  durationMs: number;
  /** Envoy's attemptCount: the router's tries (tcp_proxy's connect attempts), 0 when none was made. */
  attemptCount: number;
  /** Request header by lower-case name (`:authority`, `:path`, `:method` are pseudo headers). */
  requestHeader(name: string): string | undefined;
  /** Response header by lower-case name. */
  responseHeader(name: string): string | undefined;
  upstreamHost: string;
  upstreamCluster: string;
  upstreamLocalAddress: string;
  downstreamLocalAddress: string;
  downstreamRemoteAddress: string;
  requestedServerName: string;
  routeName: string;
  upstreamTransportFailureReason: string;
  connectionTerminationDetails: string;
  /**
   * The stream's (or, for TCP, the connection's) dynamic metadata, by namespace, for
   * `%DYNAMIC_METADATA(...)%`: the map the filters wrote, not a copy; absent when none was written.
   */
  dynamicMetadata?: ReadonlyMap<string, Readonly<Record<string, unknown>>> | undefined;
}
