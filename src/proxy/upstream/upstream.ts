// The one dispatch contract between the router and an endpoint: send a request head and a body
// stream, receive head, data and trailers through a sink. HTTP/1.1 pools, h2c sessions and the mesh
// tunnel all implement it.
import type { Readable } from 'node:stream';

export type OutgoingHeaders = Record<string, string | string[]>;

export interface UpstreamHead {
  readonly method: string;
  /** Path and query. */
  readonly path: string;
  readonly authority: string;
  readonly scheme: 'http' | 'https';
  readonly headers: OutgoingHeaders;
  /** The endpoint's container port, for requests that travel through the mesh tunnel. */
  readonly targetPort?: number;
  /**
   * The protocol the request arrived in (for a tunnelled one, what the source sidecar's client spoke):
   * a cluster with use_downstream_protocol_config forwards in the same one.
   */
  readonly downstreamProtocol?: 'HTTP/1.1' | 'HTTP/2';
  /**
   * The downstream request's trailers, read once its body has ended (HTTP/1.1 chunked trailers or
   * HTTP/2 trailing HEADERS). Present only when the downstream may send trailers.
   */
  readonly trailers?: () => OutgoingHeaders;
}

export type UpstreamFailure = 'connect' | 'reset' | 'protocol' | 'overflow';

/** Emitted on a carried stream when its HTTP/2 session retires: an idle connection on it closes. */
export const RETIRE_EVENT = 'outrigger-retire';

/**
 * Whether an 'end' just emitted is a stream's teardown, not its peer's end: a Node HTTP/2 stream emits
 * 'end' when its session is destroyed (the connection under it lost, or closed here), and is destroyed
 * by then; after a real END_STREAM it is not. Sockets never end this way.
 */
export function endedByTeardown(s: { readonly destroyed: boolean }): boolean {
  return 'rstCode' in s && s.destroyed;
}

export class UpstreamError extends Error {
  readonly code: string;
  readonly failure: UpstreamFailure;
  /** A connect that did not complete within connect_timeout (TCP or TLS): Envoy's upstream_cx_connect_timeout. */
  timedOut = false;
  /**
   * The peer reset the stream (HTTP/2 RST_STREAM before its END_STREAM): Envoy's RemoteReset (or, by its
   * code, RemoteRefusedStreamReset or ConnectError), flagged UR, where a connection lost under it is a
   * ConnectionTermination (UC). The RST_STREAM code, -1 for any other failure.
   */
  remoteResetCode = -1;
  constructor(failure: UpstreamFailure, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.failure = failure;
    this.code = `UPSTREAM_${failure.toUpperCase()}`;
  }
}

/**
 * The connect failure of a connection not up within the cluster's connect_timeout of `ms`: its TCP
 * connect, or (`step` 'TLS handshake') its handshake.
 */
export function connectTimeout(ms: number, step: 'connect' | 'TLS handshake' = 'connect'): UpstreamError {
  const err = new UpstreamError('connect', `${step} timeout after ${ms}ms`);
  err.timedOut = true;
  return err;
}

/** Whether `err`, or what it wraps, is a connect timeout. */
export function isConnectTimeout(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) if (e instanceof UpstreamError && e.timedOut) return true;
  return false;
}

/**
 * `%UPSTREAM_TRANSPORT_FAILURE_REASON%` for a failed connect: TLS failures as Envoy marks them
 * (`TLS_error:` with the code and what failed, e.g. a server identity secure naming refused), anything
 * else as the error says.
 */
export function transportFailureReason(err: UpstreamError): string {
  const cause = err.cause as (Error & { code?: unknown }) | undefined;
  const code = typeof cause?.code === 'string' ? cause.code : '';
  let text = err.message.replace(/\s+/g, ' ');
  // The connection pool prefixes the code itself; Node adds advice about system CAs to some messages.
  if (code && text.startsWith(`${code}: `)) text = text.slice(code.length + 2);
  text = text.replace(/;\s*if the root CA is installed locally, try running Node\.js with\s+--use-system-ca\s*$/, '');
  const reason = TLS_CODE.test(code) ? `TLS_error:${code}:${text}` : text;
  return reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason;
}

/** Error codes of a failed TLS handshake or certificate check (node:tls, OpenSSL, secure naming). */
const TLS_CODE = /^(ERR_TLS|ERR_SSL|ERR_OSSL|MESH_PEER_IDENTITY|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED)/;
/** An access-log field, not a report: long lists of names are cut. */
const MAX_REASON = 256;

export interface UpstreamSink {
  /**
   * The request has its connection (a pooled HTTP/1.1 connection, a stream on a ready HTTP/2 session):
   * Envoy's onPoolReady, when a try's per-try timer may start. Not called for a request that fails first.
   * `answeredPeer`: on a carried HTTP/1.1 connection, the destination's metadata its carrier's CONNECT
   * was answered with (its responses go without `x-outrigger-peer`).
   */
  onPoolReady?(answeredPeer?: string): void;
  onHead(status: number, headers: OutgoingHeaders): void;
  /** Returns false when the downstream is full; the upstream then waits for `resume()`. */
  onData(chunk: Buffer): boolean;
  onEnd(trailers: OutgoingHeaders): void;
  /**
   * The exchange failed. `requestSent`: whether the request head had been written to the upstream
   * (Envoy's upstream_request_started, which reset-before-request retries on): false for a connect
   * failure or a reset before the head went out, true after; absent when the upstream cannot tell
   * (taken as sent, unless the failure is a connect failure).
   */
  onError(err: UpstreamError, requestSent?: boolean): void;
}

export interface UpstreamExchange {
  /** Downstream drained: continue reading the response. */
  resume(): void;
  /** Abandon the exchange (downstream went away, timeout). */
  abort(reason: string): void;
}

export interface Upstream {
  request(head: UpstreamHead, body: Readable | null, sink: UpstreamSink): UpstreamExchange;
  /** Connections currently open, for `upstream_cx_active`. */
  connections(): number;
  close(): Promise<void>;
  /**
   * Requests the cluster's connection gate runs on this upstream (HTTP/1.1: its busy connections). Kept
   * here, not in a map, so a request pays one field write; read only past max_connections.
   */
  gated?: number;
}
