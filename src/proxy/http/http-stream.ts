// One downstream HTTP stream from its head to its close, as a single object: the router's
// ResponseWriter, local replies through the filters, and the one close hook that ends the in-flight
// count, cancels a filter still deciding, runs the filters' onDone and cancels the upstream. One
// allocation per request instead of a closure per hook (DESIGN §1.5).
import type { ServerResponse } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { constants as h2constants, type ServerHttp2Stream } from 'node:http2';
import type { Readable } from 'node:stream';
import type { ChainedFilter } from './filter-registry.ts';
import { H1Request, H1Response, ownField } from './h1-server.ts';
import { grpcStatusOf } from './grpc-status.ts';
import { isMeshHeader } from './mesh-headers.ts';
import { H2Request, H2Response, kStreamCloseHook, type StreamCloseHooked } from './h2-server.ts';
import { endWithHead, LocalReplies, prepareLocalReply, type ReplyTarget, recordReply, sendLocalReply, writeLocalReply } from '../local-reply.ts';
import type { OutgoingHeaders } from '../upstream/upstream.ts';
import type { HttpFilter, LocalReply, RequestContext, StreamOutcome } from './filter.ts';
import type { ClusterChoice, MatchedRoute } from './route/index.ts';
import type { ServerHeader } from '../listener/compile-listener.ts';
import type { ResponseWriter } from './router.ts';
import { type HeaderMap, headerMapOf, type StreamInfo } from './stream.ts';

const { NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR } = h2constants;

/** The raw HTTP/1.1 codec's objects, the HTTP/2 server stream's (h2-server.ts), or Node's HTTP/1.1 ones. */
export type DownstreamReq = IncomingMessage | H2Request | H1Request;
export type DownstreamRes = ServerResponse | H2Response | H1Response;

export const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'host', 'expect', 'http2-settings', 'proxy-authorization']);

/** Trailer fields that never travel (RFC 9110 §6.5.1: framing, routing and authentication fields). */
const forbiddenTrailers = new Set([...hopByHop, 'content-length', 'content-type', 'authorization', 'cookie', 'set-cookie', 'trailer']);

/**
 * A request's trailers as they go upstream: the forbidden fields dropped, and the mesh-internal ones
 * (isMeshHeader: x-forwarded-client-cert, x-outrigger-*, x-envoy-*, x-istio-*), which stripMeshHeaders
 * removes from a non-mesh client's head and which would otherwise reach the app as trailers. From any
 * client, a mesh peer's included: what reads them is the app's framework (a trailer merged into the
 * headers), never this proxy, and a peer sidecar already dropped its own client's.
 */
export function forwardableTrailers(t: Record<string, string | string[] | undefined>): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  for (const k in t) {
    const v = t[k];
    if (v === undefined || k.startsWith(':') || forbiddenTrailers.has(k) || isMeshHeader(k)) continue;
    if (k === '__proto__') ownField(out, k, v);
    else out[k] = v;
  }
  return out;
}

/** A response's trailers as they go downstream: the forbidden fields dropped. */
function responseTrailers(t: OutgoingHeaders): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  // for-in, not Object.entries: no entry arrays per field (a gRPC stream's trailers pass here on every hop).
  for (const k in t) {
    const v = t[k];
    if (v === undefined || k.startsWith(':') || forbiddenTrailers.has(k)) continue;
    if (k === '__proto__') ownField(out, k, v);
    else out[k] = v;
  }
  return out;
}

/** The head sent downstream: hop-by-hop fields dropped (HTTP/1.1 keeps `upgrade`), `connection: close` when draining. */
function responseHeaders(h: HeaderMap, h2: boolean, draining: boolean): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  h.forEach((v, k) => {
    if (hopByHop.has(k) && (h2 || k !== 'upgrade')) return;
    // A field named `__proto__` (Envoy passes it) is an own field, not the prototype's setter.
    if (k === '__proto__') ownField(out, k, v);
    else out[k] = v;
  });
  if (draining && !h2) out['connection'] = 'close';
  return out;
}

const kStream = Symbol('outrigger.httpStream');
type Tagged = { [kStream]?: HttpStream | undefined };

/** Shared by every stream: the emitter (the response, or an HTTP/2 response's stream) carries its HttpStream. */
function onResponseClose(this: Tagged & StreamCloseHooked): void {
  this[kStream]?.closed();
  this[kStreamCloseHook]?.streamClosed();
}

/** A request body's chunk, counted for telemetry's sizes and the stream idle timer. */
function countBody(this: Tagged, chunk: Buffer): void {
  const s = this[kStream];
  if (s !== undefined) s.requestBytes += chunk.length;
}

/**
 * A client's RST_STREAM cut its HTTP/2 request body: Node ends the stream's readable side (EOF) before
 * its 'close', so an upstream reading the body would see it end as if whole, and finish the request
 * before the close hook cancels it. 'aborted' comes first: the upstream is cancelled there.
 */
function onBodyAborted(this: Tagged): void {
  this[kStream]?.cancelUpstream();
}

/**
 * Resets a stream whose response has ended, once its last frame is out. Node sends trailers from an
 * immediate it queues in 'wantTrailers' (sendTrailers), and a reset submitted before them would drop
 * them: this immediate, queued after Node's, submits RST_STREAM NO_ERROR behind them (Node flushes the
 * frames already queued before a reset), as Envoy's codec defers a reset until its END_STREAM is sent.
 */
function resetAfterTrailers(this: ServerHttp2Stream): void {
  setImmediate(resetNoError, this);
}

function resetNoError(stream: ServerHttp2Stream): void {
  stream.close(NGHTTP2_NO_ERROR);
}

/** A filter still deciding when its stream ends (an ext_authz check out) cancels what it sent: Envoy's onDestroy. */
export function cancelDeciding(stream: { deciding: HttpFilter | undefined }, ctx: RequestContext): void {
  const deciding = stream.deciding;
  if (deciding === undefined) return;
  stream.deciding = undefined;
  deciding.onDestroy?.(ctx);
}

/** The stream ended: every filter's onDone sees how (telemetry counts and logs it). */
export function filtersDone(filters: readonly ChainedFilter[], ctx: RequestContext, outcome: StreamOutcome): void {
  for (let i = 0; i < filters.length; i++) (filters[i] as ChainedFilter).filter.onDone?.(ctx, outcome);
}

/** A local reply with the HCM's `server` header (server_name; a reply's own kept unless it overwrites). */
export function withServerHeader(r: LocalReply, server: ServerHeader | null): LocalReply {
  return server !== null && (server.overwrite || r.headers?.['server'] === undefined) ? { ...r, headers: { ...r.headers, server: server.name } } : r;
}

/**
 * A response head's passage downstream, as Envoy's encodeHeaders: the route's (and the chosen weighted
 * cluster's) response header mutations, each filter's onResponse, then the HCM's `server` header
 * (server_header_transformation), the last word. HttpStream.head and an upgrade's answer (upgrade.ts).
 */
export function encodeResponseHead(ctx: RequestContext, status: number, map: HeaderMap, route: MatchedRoute | null, choice: ClusterChoice | null, filters: readonly ChainedFilter[], server: ServerHeader | null): void {
  route?.mutateResponseHeaders(map, choice);
  for (let i = 0; i < filters.length; i++) (filters[i] as ChainedFilter).filter.onResponse?.(ctx, { status, headers: map });
  if (server !== null && (server.overwrite || !map.has('server'))) map.set('server', server.name);
}

export class HttpStream implements ResponseWriter {
  readonly res: DownstreamRes;
  readonly h2: boolean;
  readonly isGrpc: boolean;
  readonly info: StreamInfo;
  readonly #untrack: (() => void) | undefined;
  readonly #now: () => number;
  /** Set once routed: from then on the filters see the stream end. */
  ctx: RequestContext | undefined;
  filters: readonly ChainedFilter[] = [];
  /** The filter whose onRequest verdict is pending (a check out, a delay): its onDestroy runs if the stream closes first. */
  deciding: HttpFilter | undefined = undefined;
  route: MatchedRoute | null = null;
  /** The route's cluster, chosen with the route before the filters run (routeCluster); the router's. */
  choice: ClusterChoice | null = null;
  /** The random values its route match and cluster pick drew (FilterStream). */
  matchDraw = Number.NaN;
  pickDraw = Number.NaN;
  draining = false;
  /** The downstream takes response trailers. */
  trailersOut = false;
  /** The chain's Server header (null: the upstream's passes as it is). */
  server: ServerHeader | null = null;
  /** The router's x-envoy-* response headers (x-envoy-overloaded); false under suppress_envoy_headers. */
  envoyHeaders = true;
  requestBytes = 0;
  #responseBytes = 0;
  /** The codec's request, HTTP/1.1 or HTTP/2: what it read besides the body is counted when the stream ends. */
  codecRequest: H1Request | H2Request | undefined = undefined;
  #responseHeadBytes = 0;
  #status = 0;
  #grpcStatus: number | undefined;
  #upstream: { cancel(): void } | undefined;
  #onDrain: (() => void) | undefined;
  #drainListened = false;
  /** The response ended with its head (gRPC trailers-only): body and trailers that follow are dropped. */
  #endedAtHead = false;
  #timeouts: { clear(): void } | undefined;
  /** The request body, once handed to the upstream: drained by #bodyDone when nothing reads it any more. */
  #body: Readable | undefined;
  /** The downstream stream closed (the close hook ran): nothing is forwarded for it any more. */
  gone = false;
  /** HTTP/2: the stream is being reset after its response (resetUnfinished ran). */
  #resetting = false;
  /** The proxy cut the response (reset): its end is not the client's doing (no DC). */
  #cut = false;

  constructor(res: DownstreamRes, h2: boolean, isGrpc: boolean, info: StreamInfo, now: () => number, untrack: (() => void) | undefined) {
    this.res = res;
    this.#now = now;
    this.h2 = h2;
    this.isGrpc = isGrpc;
    this.info = info;
    this.#untrack = untrack;
    // An HTTP/2 response's events are its stream's: the stream carries the tag its close listener reads.
    const emitter = res instanceof H2Response ? res.stream : res;
    (emitter as Tagged)[kStream] = this;
    emitter.on('close', onResponseClose);
  }

  /**
   * The request body as the upstream reads it, counted (for telemetry's sizes and the stream idle
   * timer). The count listens beside the upstream's reader rather than in a stream between them (no
   * Transform and pipe per request); the body is paused again at once, so it flows only when the
   * upstream resumes or pipes it.
   */
  body(req: DownstreamReq): Readable {
    const src: Readable = req instanceof H1Request ? (req.body as Readable) : req instanceof H2Request ? req.stream : req;
    this.#body = src;
    if (req instanceof H2Request) src.once('aborted', onBodyAborted);
    // One shared listener: the body carries its stream (an HTTP/2 body is the stream the constructor tagged).
    (src as Tagged)[kStream] = this;
    src.on('data', countBody);
    src.pause();
    return src;
  }

  /**
   * Nothing reads the request body any more (the response is complete, or the proxy answered itself):
   * it is drained. Left paused, an HTTP/2 stream whose body outgrew its buffers never ends, so it is
   * never logged and never leaves the in-flight count. Unpiped first: a pipe into an upstream stream
   * that finishes later would pause it again in its own cleanup. An HTTP/2 client still sending (no
   * END_STREAM yet) is told to stop: Envoy's doEndStream resets a stream whose response completes
   * before its request, where reading on would take every byte of an upload nobody wants. (HTTP/1.1:
   * the codec closes the connection after such a response.)
   */
  #bodyDone(): void {
    const body = this.#body;
    if (body === undefined || body.readableEnded) return;
    body.unpipe();
    if (this.h2) {
      const stream = body as ServerHttp2Stream;
      if (!stream.closed && stream.state.remoteClose !== 1) this.resetUnfinished();
    }
    body.resume();
  }

  /**
   * This stream's own activity, for the stream idle timer: body bytes each way and its response head.
   * Not the transport's counters: an HTTP/2 session (the mesh tunnel above all) carries many streams,
   * and a carried HTTP/1.1 connection's stream has no counters at all.
   */
  progress(): number {
    return this.requestBytes + this.#responseBytes + (this.res.headersSent ? 1 : 0);
  }

  forwarding(upstream: { cancel(): void }): void {
    this.#upstream = upstream;
  }

  /** The downstream is gone before its response ended: the upstream request is abandoned. */
  cancelUpstream(): void {
    if (!this.res.writableFinished) this.#upstream?.cancel();
  }

  /** The stream's idle and duration timers, cleared when it closes. */
  timed(timeouts: { clear(): void }): void {
    this.#timeouts = timeouts;
  }

  closed(): void {
    this.gone = true;
    const res = this.res;
    ((res instanceof H2Response ? res.stream : res) as Tagged)[kStream] = undefined;
    this.#untrack?.();
    this.#timeouts?.clear();
    const ctx = this.ctx;
    if (ctx) {
      cancelDeciding(this, ctx);
      const req = this.codecRequest;
      const outcome: StreamOutcome = {
        status: this.#status,
        requestBytes: this.requestBytes,
        responseBytes: this.#responseBytes,
        requestHeadBytes: req instanceof H1Request ? req.headBytes + req.framingBytes : (req?.fieldBytes ?? 0),
        responseHeadBytes: res instanceof H2Response ? res.fieldBytes : this.#responseHeadBytes + (res instanceof H1Response ? res.framingBytes : 0),
        durationMs: this.#now() - this.info.startTime,
        downstreamReset: !res.writableFinished && !this.#cut,
      };
      if (this.#grpcStatus !== undefined) outcome.grpcStatus = this.#grpcStatus;
      filtersDone(this.filters, ctx, outcome);
    }
    this.cancelUpstream();
  }

  /** A reply of the proxy's own, before routing: no filter sees it. */
  localReply(r: LocalReply): void {
    const reply = withServerHeader(r, this.server);
    // Once routed, its head and body count as an upstream's would (Envoy's bytes sent, Istio's response bytes).
    sendLocalReply(this.ctx ? this.#counted() : (this.res as ServerResponse), reply, this.info, this.isGrpc);
  }

  /** The response as a local reply writes it, its head and body counted (local replies only: one object each). */
  #counted(): ReplyTarget {
    const res = this.res as ServerResponse;
    return {
      headersSent: res.headersSent,
      writeHead: (status, headers) => {
        const written = res.writeHead(status, headers);
        if (res instanceof H1Response) this.#responseHeadBytes = res.headBytes;
        return written;
      },
      endHead: (status, headers) => {
        endWithHead(res, status, headers);
        if (res instanceof H1Response) this.#responseHeadBytes = res.headBytes;
      },
      end: (body) => {
        if (body) this.#responseBytes += Buffer.byteLength(body);
        return res.end(body);
      },
    };
  }

  /**
   * A reply of the proxy's own once routed, as Envoy's sendLocalReplyViaFilterChain: the route's
   * mutations, then the head prepared (prepareLocalReply: status, content-type, gRPC status), then the
   * filters see it (CORS headers, denial receipts, telemetry) and their edits are sent.
   */
  finalReply(r: LocalReply, fromRoute = false): void {
    recordReply(this.info, r);
    const headers = headerMapOf(r.headers ?? {});
    if (!this.envoyHeaders) headers.delete('x-envoy-overloaded');
    // As Envoy does, a direct response, a redirect and the router's own replies carry the route's
    // (and the chosen weighted cluster's) response header mutations.
    if (fromRoute) this.route?.mutateResponseHeaders(headers, this.choice);
    const status = prepareLocalReply(headers, r, this.isGrpc);
    this.#status = status;
    const ctx = this.ctx as RequestContext;
    for (const f of this.filters) f.filter.onResponse?.(ctx, { status, headers });
    // What the client gets, as Envoy's getGrpcStatus reads it for the stats and the span.
    const gs = headers.get('grpc-status');
    if (this.isGrpc && typeof gs === 'string') this.#grpcStatus = grpcStatusOf(gs);
    const server = this.server;
    if (server !== null && (server.overwrite || !headers.has('server'))) headers.set('server', server.name);
    writeLocalReply(this.#counted(), status, headers, r, this.info, this.isGrpc);
    this.#bodyDone();
  }

  head(s: number, headers: OutgoingHeaders, made?: HeaderMap): void {
    const res = this.res;
    if (res.headersSent) {
      // An upstream that answers twice is a broken peer: end this stream, never the process.
      this.reset(LocalReplies.upstreamProtocolErrorAfterHead);
      return;
    }
    this.#status = s;
    const map = made ?? headerMapOf(headers);
    encodeResponseHead(this.ctx as RequestContext, s, map, this.route, this.choice, this.filters, this.server);
    const gs = map.get('grpc-status');
    if (typeof gs === 'string') this.#grpcStatus = grpcStatusOf(gs);
    // A gRPC head that carries grpc-status is a trailers-only answer: it leaves as one HEADERS frame
    // with END_STREAM, or a gRPC client reads no status at all (INTERNAL). Nothing follows it.
    const trailersOnly = this.h2 && this.isGrpc && typeof gs === 'string';
    if (trailersOnly) {
      this.#endedAtHead = true;
      endWithHead(res as ServerResponse, s, responseHeaders(map, true, this.draining) as Record<string, string>);
      this.#bodyDone();
      return;
    }
    (res as ServerResponse).writeHead(s, responseHeaders(map, this.h2, this.draining));
    if (res instanceof H1Response) this.#responseHeadBytes = res.headBytes;
  }

  data(chunk: Buffer): boolean {
    if (this.#endedAtHead) return true;
    this.#responseBytes += chunk.length;
    const ok = (this.res as ServerResponse).write(chunk);
    // 'drain' follows only a write that returned false: listen from the first one, not on every stream.
    if (!ok && this.#onDrain && !this.#drainListened) {
      this.#drainListened = true;
      this.res.on('drain', this.#onDrain);
    }
    return ok;
  }

  onDrain(fn: () => void): void {
    this.#onDrain = fn;
  }

  end(trailers: OutgoingHeaders): void {
    if (this.#endedAtHead) return;
    const gs = trailers['grpc-status'];
    if (typeof gs === 'string') this.#grpcStatus = grpcStatusOf(gs);
    // HTTP/1.1 sends them as chunked trailers (Node drops them when the response has a length).
    const res = this.res as ServerResponse;
    if (this.trailersOut && hasKeys(trailers)) res.addTrailers(responseTrailers(trailers) as Record<string, string>);
    res.end();
    this.#bodyDone();
  }

  /** The router's reply (503 UF/UH/UO/URX, 504 UT): Envoy's router finalizes its headers as the route says. */
  reply(r: LocalReply): void {
    this.finalReply(r, true);
  }

  /**
   * The response is cut after its head left (its upstream reset or broke HTTP, a timeout expired):
   * Envoy's local reply once the response has started, which resets the stream. `reason` gives the
   * stream its flag and details; the response code stays the one sent. The client did not leave (no
   * DC). HTTP/2: RST_STREAM after the head and the body already written (Node sends what is queued
   * first). HTTP/1.1: the head and what was written go out, with no end of body, then the connection
   * closes (FIN, as Envoy's FlushWriteAndDelay): the client reads a cut body, never an empty close.
   */
  reset(reason?: LocalReply): void {
    if (reason !== undefined) recordReply(this.info, reason);
    this.#cut = true;
    const res = this.res;
    // Envoy's codec says NO_ERROR; Node's HTTP/2 client reads a NO_ERROR reset before END_STREAM as the
    // body's end, and an app's client built on it would take a cut body as whole (this proxy's upstream
    // side tells them apart: h2-connection.ts).
    if (this.h2) (res as H2Response).stream.close(NGHTTP2_INTERNAL_ERROR);
    else if (res instanceof H1Response) res.cut();
    else (res as ServerResponse).destroy();
  }

  /**
   * The response (the upstream's, or the proxy's own reply to a stream timeout) is complete before the
   * client finished its request: the stream is reset, as Envoy's doEndStream resets a stream whose
   * request is not complete, rather than its body waited on for as long as the client trickles it, or
   * for ever when it stalled. HTTP/2: RST_STREAM NO_ERROR once the response's last frame is out (RFC 9113
   * §8.1), so the client has all of it, trailers included. HTTP/1.1: the codec closes the connection
   * after the response.
   */
  resetUnfinished(): void {
    if (!this.h2 || this.#resetting) return;
    this.#resetting = true;
    const stream = (this.res as H2Response).stream;
    // A response that waits for its trailers (every head H2Response sends without END_STREAM) ends in them.
    if (stream.listenerCount('wantTrailers') > 0) stream.once('wantTrailers', resetAfterTrailers);
    else resetAfterTrailers.call(stream);
  }
}

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}
