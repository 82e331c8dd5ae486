// The HTTP filter contract: how rbac, jwt_authn, fault, cors, ext_authz and telemetry plug into the
// HTTP connection manager without touching it. Config is compiled once per listener by a factory;
// per-request work happens in the hooks. A hook continues, or answers with a local reply.
import type { TypedAny } from '../../xds/any.ts';
import type { NetworkStatsFilter } from '../filters/network-stats.ts';
import type { RouteDecorator } from './route/decorator.ts';
import type { DownstreamRequest, HeaderMap, StreamInfo } from './stream.ts';

/** A response the proxy generates itself (see src/proxy/local-reply). */
export interface LocalReply {
  status: number;
  /** Envoy response flag recorded for this reply (`RBAC`, `FI`, `UAEX`, ...). */
  flag?: string;
  /** Envoy's response code details string. */
  details?: string;
  /** Text, or bytes sent as they are (a direct response's inline_bytes). */
  body?: string | Uint8Array;
  headers?: Record<string, string>;
  /**
   * Envoy's sendLocalReply grpc_status (the fault filter's grpc_status abort): the grpc-status of the
   * answer to a gRPC request, in place of the HTTP status mapped; unused for any other request.
   */
  grpcStatus?: number;
}

export type FilterVerdict =
  | { readonly action: 'continue'; readonly clearRouteCache?: true }
  | { readonly action: 'respond'; readonly reply: LocalReply };

export const CONTINUE: FilterVerdict = Object.freeze({ action: 'continue' });

/**
 * Continue after matching the route again (Envoy's clearRouteCache): what the filter set, headers or
 * dynamic metadata, may pick another route, which the later filters and the router then see.
 */
export const CONTINUE_CLEAR_ROUTE: FilterVerdict = Object.freeze({ action: 'continue', clearRouteCache: true });

/** The route the request matched, as the filters see it (null when no route matched). */
export interface RouteView {
  readonly name: string;
  /** What it does; a redirect or direct response has no route entry for filters (Envoy's routeEntry() is null). Absent: forward. */
  readonly kind?: 'forward' | 'redirect' | 'direct_response' | 'non_forwarding';
  /** Its span name (Envoy's route decorator), compiled with the route. */
  readonly decorator?: RouteDecorator | null;
  /** The compiled `typed_per_filter_config` of route, then virtual host (most specific wins). */
  perFilterConfig(filterName: string): unknown;
}

export interface RequestContext {
  readonly request: DownstreamRequest;
  readonly info: StreamInfo;
  readonly route: RouteView | null;
}

export interface ResponseHead {
  status: number;
  headers: HeaderMap;
}

export interface HttpFilter {
  /**
   * Called once the request head is parsed and routed; may mutate request headers. Return a plain
   * verdict when there is nothing to wait for: the walk then stays synchronous (no microtask per filter).
   */
  onRequest?(ctx: RequestContext): FilterVerdict | Promise<FilterVerdict>;
  /**
   * Called when the stream ends while this filter's onRequest promise is still pending (the downstream
   * reset or left): cancel what it has out, as Envoy's filters do in onDestroy (ext_authz's
   * client_->cancel()). What the promise then settles to is not used. No other filter is called.
   */
  onDestroy?(ctx: RequestContext): void;
  /** Called with the response head before it is sent downstream; may mutate headers. */
  onResponse?(ctx: RequestContext, response: ResponseHead): void;
  /** Called once when the stream ends, however it ends (telemetry: metrics, access log, span). */
  onDone?(ctx: RequestContext, outcome: StreamOutcome): void;
}

/** How a stream ended, for telemetry. */
export interface StreamOutcome {
  /** The status sent downstream; 0 when the downstream went away before a response. */
  status: number;
  /** gRPC status from trailers or headers, when the stream was gRPC. */
  grpcStatus?: number;
  /** Body bytes each way (Envoy's %BYTES_RECEIVED% / %BYTES_SENT%). */
  requestBytes: number;
  responseBytes: number;
  /**
   * What istio_request_bytes / istio_response_bytes add to the bodies. HTTP/1.1: the heads as the codec
   * read and wrote them and a chunked body's framing (chunk lines, last chunk, trailers), so with the
   * bodies every downstream byte, the wire bytes Istio's stats filter records. HTTP/2: every field of
   * the head and trailers, name and value bytes (Envoy's HeaderMap byteSize), as received and as sent:
   * Node's HTTP/2 does not tell the HPACK-compressed blocks and frame headers Envoy's codec meters.
   */
  requestHeadBytes: number;
  responseHeadBytes: number;
  /** Milliseconds from the first request byte to the last response byte. */
  durationMs: number;
  /** The downstream reset the stream or the connection dropped. */
  downstreamReset: boolean;
}

export interface HttpFilterFactory {
  /** Envoy's filter name: `envoy.filters.http.rbac`. */
  readonly name: string;
  /** Type URLs this factory accepts as its listener-level typed_config. */
  readonly typeUrls: readonly string[];
  /** Compiles listener-level config once; throws a FilterConfigError to NACK. */
  create(config: TypedAny): HttpFilter;
  /** Compiles a per-route `typed_per_filter_config` entry once; throws a FilterConfigError to NACK. */
  compilePerRoute?(config: TypedAny): unknown;
  /**
   * A filter that is also a network filter on TCP chains (`istio.stats`, as istio/proxy registers it):
   * compiles that form once; undefined when the config leaves it nothing to do.
   */
  createNetwork?(config: TypedAny): NetworkStatsFilter | undefined;
  /** At proxy shutdown: send or write what is buffered (spans, access-log lines) and release files. */
  close?(): Promise<void>;
}

export class FilterConfigError extends Error {
  readonly code = 'FILTER_CONFIG';
}
