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

export class UpstreamError extends Error {
  readonly code: string;
  readonly failure: UpstreamFailure;
  constructor(failure: UpstreamFailure, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.failure = failure;
    this.code = `UPSTREAM_${failure.toUpperCase()}`;
  }
}

/**
 * `%UPSTREAM_TRANSPORT_FAILURE_REASON%` for a failed connect: TLS failures as Envoy marks them
 * (`TLS_error:` with the code and what failed, e.g. a server identity secure naming refused), anything
 * else as the error says.
 */
export function transportFailureReason(err: UpstreamError): string {
  const cause = err.cause as (Error & { code?: unknown }) | undefined;
  const code = typeof cause?.code === 'string' ? cause.code : '';
  const tls = /^(ERR_TLS|ERR_SSL|MESH_PEER_IDENTITY|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_OSSL)/.test(code) || /SSL routines|certificate/i.test(err.message);
  const text = err.message.replace(/\s+/g, ' ');
  return tls ? `TLS_error:${code ? `${code}:` : ''}${text}` : text;
}

export interface UpstreamSink {
  onHead(status: number, headers: OutgoingHeaders): void;
  /** Returns false when the downstream is full; the upstream then waits for `resume()`. */
  onData(chunk: Buffer): boolean;
  onEnd(trailers: OutgoingHeaders): void;
  onError(err: UpstreamError): void;
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
}
