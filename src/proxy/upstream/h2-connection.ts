// One HTTP/2 client session to an endpoint (h2c, or the mesh tunnel over TLS): its requests, CONNECT
// streams, and what the pool needs to place streams — readiness (the peer's SETTINGS), the peer's
// concurrent-stream limit and the streams open on it. It is never reopened; the pool makes a new one.
import { subscribe } from 'node:diagnostics_channel';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { realTimers, type Timers } from '../http/router.ts';
import { atPeerExpiry, REFUSED_PEER_GRACE_MS, spiffeIdOf, TUNNEL_SESSION_WINDOW, TUNNEL_STREAM_WINDOW } from '../tunnel/mesh-tls.ts';
import { addAbortSignal, type Duplex, type Readable } from 'node:stream';
import type { H2UpstreamOptions } from './h2-upstream.ts';
import type { OutgoingHeaders, UpstreamExchange, UpstreamHead, UpstreamSink } from './upstream.ts';
import { connectTimeout, endedByTeardown, RETIRE_EVENT, UpstreamError } from './upstream.ts';

export const TARGET_PORT_HEADER = 'x-outrigger-target-port';
/** The source client's protocol on a tunnelled request: the tunnel is HTTP/2 whatever the client spoke. */
export const PROTOCOL_HEADER = 'x-outrigger-protocol';
/**
 * `raw_buffer` on a tunnelled request or CONNECT whose cluster has no mesh TLS (a DestinationRule
 * `tls.mode: DISABLE`, auto mTLS off): the destination serves it as the plaintext connection Istio would
 * have sent, on a chain that takes `raw_buffer`, without the caller's identity. `plain_tls` on a CONNECT
 * that carries TLS the source originates (DestinationRule SIMPLE or MUTUAL): passed to the app as TCP
 * where a plaintext TCP connection would be, refused elsewhere.
 */
export const TRANSPORT_HEADER = 'x-outrigger-transport';
/** The extended CONNECT `:protocol` of a stream that carries an HTTP/1.1 connection to the tunnel. */
export const HTTP1_CARRIER_PROTOCOL = 'outrigger-http1';

/**
 * `x-outrigger-peer`: the source's metadata on a request or CONNECT (and once on a carrier's), and the
 * destination sidecar's in a CONNECT's answer.
 */
export const PEER_HEADER = 'x-outrigger-peer';
const connectPeers = new WeakMap<Duplex, string>();

/**
 * The metadata the destination sidecar answered a tunnel CONNECT with (base64 JSON, Istio's TCP metadata
 * exchange): who is at the other end of a tcp_proxy connection, for the source's telemetry.
 */
export function connectPeerOf(stream: Duplex): string | undefined {
  return connectPeers.get(stream);
}

/** A client's stream IDs are the odd numbers below 2^31; a session stops a little short of them. */
const MAX_STREAMS_PER_SESSION = 2 ** 30 - 1024;

/** Hop-by-hop headers that HTTP/2 forbids. */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'te']);

export interface H2ConnectionEvents {
  /** The peer's SETTINGS arrived (first time: ready) or changed. */
  onSettings(c: H2Connection): void;
  /** A stream ended: capacity is free again. */
  onStreamEnd(c: H2Connection): void;
  /** The session closed, or received GOAWAY: place nothing new on it. */
  onGone(c: H2Connection, err: UpstreamError | undefined): void;
  /** The session closed: nothing is left open on it. */
  onClosed?(c: H2Connection): void;
}

/**
 * A session's socket as http2.connect makes one itself: TCP for `http:` (h2c), TLS with ALPN h2 and the
 * host as SNI (unless an address, or named in the options) for `https:`.
 */
function sessionSocket(authority: URL, options: http2.SessionOptions & tls.ConnectionOptions): Duplex {
  const host = authority.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(authority.port) || (authority.protocol === 'http:' ? 80 : 443);
  if (authority.protocol === 'http:') return net.connect({ port, host, ...(options as net.NetConnectOpts) });
  return tls.connect({ port, host, ...options, ALPNProtocols: ['h2'], ...(options.servername || net.isIP(host) ? {} : { servername: host }) });
}

export class H2Connection {
  readonly #opts: H2UpstreamOptions;
  readonly #session: http2.ClientHttp2Session;
  readonly #events: H2ConnectionEvents;
  #connected = false;
  #ready = false;
  #gone = false;
  /** Streams placed on this session and not yet closed. */
  active = 0;
  /** Streams ever opened on this session, and how many it may open. */
  #streams = 0;
  readonly #maxStreams: number;
  /** Streams carrying HTTP/1.1 connections: told when the session retires. */
  #carried = new Set<Duplex>();
  #retired = false;
  /** Refused by secure naming: what is open is reset after the grace. */
  #refused = false;
  /** The last-stream-id of the peer's GOAWAY: a stream above it was never processed (refused). */
  goawayLastStreamId = 2 ** 31;
  /** The SPIFFE ID the tunnel's server presented (verified at connect); undefined for h2c or before. */
  peerId: string | undefined;
  /** The extra headers each request carries: all but the source's metadata, which goes once (below). */
  readonly #perRequest: Readonly<Record<string, string>> | undefined;
  /** The source's metadata (`x-outrigger-peer`): on this session's requests until one was answered. */
  readonly #peer: string | undefined;
  /** A request that carried the metadata was answered: the server holds it for the whole session. */
  #peerKnown = false;
  readonly #timers: Timers;
  /** The cluster's idle_timeout, armed while the ready session has no stream open. */
  #idleTimer: unknown;

  constructor(origin: string, opts: H2UpstreamOptions, events: H2ConnectionEvents) {
    this.#opts = opts;
    const { [PEER_HEADER]: peer, ...perRequest } = opts.extraHeaders ?? {};
    this.#peer = peer;
    this.#perRequest = opts.extraHeaders ? perRequest : undefined;
    this.#events = events;
    this.#maxStreams = opts.maxStreamsPerSession ?? MAX_STREAMS_PER_SESSION;
    // A TLS session is the mesh tunnel: its windows are TUNNEL_STREAM_WINDOW and TUNNEL_SESSION_WINDOW.
    // maxSessionMemory bounds what waits to be sent: the streams' own writes, each held to its
    // stream's high-water mark plus one chunk (up to 64 KiB), so 100 streams need more than the 10 MB default.
    const own = opts.originTls?.();
    // No TLS can be set up yet (a secret not delivered): the session gets a socket that never connects,
    // and fails as a connect failure (UF) without a packet sent to the endpoint.
    const tlsOptions: http2.SecureClientSessionOptions = opts.tls?.() ?? (typeof own === 'object' ? own : typeof own === 'string' ? { createConnection: () => new net.Socket() } : {});
    // The session's socket, held: a session destroyed while its TCP connect is under way ends the socket
    // and waits for that end, which comes only once connected, so the connect timeout destroys the socket.
    let socket: Duplex | undefined;
    const made = tlsOptions.createConnection;
    const createConnection = (authority: URL, options: http2.SessionOptions): Duplex => {
      socket = made ? made(authority, options) : sessionSocket(authority, options);
      return socket;
    };
    const session = http2.connect(origin, { ...tlsOptions, createConnection, settings: { enablePush: false, ...(opts.tls ? { initialWindowSize: TUNNEL_STREAM_WINDOW } : {}) }, maxSessionMemory: 32 });
    this.#session = session;
    if (typeof own === 'string') queueMicrotask(() => session.destroy(new UpstreamError('connect', `tls: ${own}`)));
    const timers = opts.timers ?? realTimers;
    this.#timers = timers;
    const timer = timers.set(() => {
      const err = connectTimeout(opts.connectTimeoutMs);
      session.destroy(err);
      socket?.destroy(err);
    }, opts.connectTimeoutMs);
    // The event's socket is the real one: `session.socket` is a proxy that refuses setKeepAlive.
    session.once('connect', (_s: http2.ClientHttp2Session, socket: net.Socket) => {
      this.#connected = true;
      opts.onConnected?.();
      socket.setNoDelay(true);
      if (opts.tcpKeepaliveMs !== undefined) socket.setKeepAlive(true, opts.tcpKeepaliveMs);
      if (opts.tls) {
        session.setLocalWindowSize(TUNNEL_SESSION_WINDOW);
        const peer = (socket as tls.TLSSocket).getPeerCertificate();
        this.peerId = spiffeIdOf(peer.raw);
        session.once('close', atPeerExpiry(peer, timers, () => this.#stopTaking()));
      }
    });
    session.on('remoteSettings', () => {
      timers.clear(timer);
      this.#ready = true;
      if (!this.#gone) events.onSettings(this);
      if (this.active === 0) this.#armIdle();
    });
    let lastError: UpstreamError | undefined;
    session.on('error', (err: Error) => {
      lastError = err instanceof UpstreamError ? err : new UpstreamError(this.#connected ? 'reset' : 'connect', err.message, err);
    });
    session.once('close', () => {
      timers.clear(timer);
      this.#disarmIdle();
      events.onClosed?.(this);
      this.#connected = false;
      this.#leave(lastError ?? (this.#ready ? undefined : new UpstreamError('connect', 'connection closed before SETTINGS')));
    });
    // Before Node destroys a session whose GOAWAY carries an error: nghttp2 would have closed the
    // streams above last-stream-id with REFUSED_STREAM, as it does after a GOAWAY NO_ERROR.
    session.on('goaway', (_code: number, lastStreamId: number) => {
      this.goawayLastStreamId = lastStreamId;
      this.#leave(undefined);
    });
  }

  /**
   * No new stream goes here, and the session closes once its streams end (the HTTP/1.1 pool closes its
   * idle carried connections instead of reusing them). At the peer's certificate expiry that is all:
   * what is open (a TCP stream, a WebSocket, a request) runs on, as on an Envoy connection.
   */
  #stopTaking(): void {
    if (this.#retired || this.#session.destroyed) return;
    this.#retired = true;
    this.#leave(undefined);
    this.#session.close();
    for (const s of this.#carried) s.emit(RETIRE_EVENT);
  }

  /**
   * Secure naming refuses the peer now (the names it must present changed): it takes no new stream, and
   * what is still open after the grace is reset.
   */
  retire(timers: Timers): void {
    if (this.#refused || this.#session.destroyed) return;
    this.#refused = true;
    this.#stopTaking();
    // With an error, so every stream still open fails (a response cut short must not read as complete).
    const grace = timers.set(() => this.#session.destroy(new UpstreamError('reset', 'peer retired'), http2.constants.NGHTTP2_CANCEL), REFUSED_PEER_GRACE_MS);
    this.#session.once('close', () => timers.clear(grace));
  }

  /**
   * Envoy's common_http_protocol_options.idle_timeout applies to an HTTP/2 upstream connection too
   * (CodecClient's idle timer, armed while no stream is active): GOAWAY, then closed (0: never).
   */
  #armIdle(): void {
    const ms = this.#opts.idleTimeoutMs;
    if (!ms || this.#idleTimer !== undefined || this.#gone) return;
    this.#idleTimer = this.#timers.set(() => {
      this.#idleTimer = undefined;
      if (this.active === 0) void this.close();
    }, ms);
  }

  #disarmIdle(): void {
    if (this.#idleTimer === undefined) return;
    this.#timers.clear(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  #leave(err: UpstreamError | undefined): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#events.onGone(this, err);
  }

  get connected(): boolean {
    return this.#connected;
  }

  get ready(): boolean {
    return this.#ready && !this.#gone;
  }

  /** Streams this session may still open: the peer's SETTINGS_MAX_CONCURRENT_STREAMS minus open ones. */
  spare(): number {
    if (!this.ready) return 0;
    const max = Math.min(this.#session.remoteSettings.maxConcurrentStreams ?? 2 ** 32 - 1, this.#opts.maxConcurrentStreams ?? 2 ** 32 - 1);
    return Math.max(0, max - this.active);
  }

  /** A CONNECT stream: its slot is taken, and freed when it closes. */
  #opened(stream: http2.ClientHttp2Stream): void {
    this.#streamOpened();
    stream.once('close', () => this.streamClosed());
  }

  #streamOpened(): void {
    this.active++;
    this.#disarmIdle();
    // Out of stream IDs soon: nothing new goes here, and the session closes once its streams end.
    if (++this.#streams >= this.#maxStreams) this.#leave(undefined);
  }

  request(head: UpstreamHead, body: Readable | null, sink: UpstreamSink): UpstreamExchange {
    // The tunnel server keeps a session's source metadata: it travels until a request carrying it is
    // answered (then the server has it), not as a few hundred bytes on every stream.
    const carriesPeer = this.#peer !== undefined && !this.#peerKnown;
    const headers = this.#requestHeaders(head, carriesPeer);
    let stream: http2.ClientHttp2Stream;
    try {
      // With a body that may end in trailers, the stream stays open after the last DATA frame until
      // they are sent (an empty set ends it with an empty END_STREAM DATA frame).
      stream = this.#session.request(headers as http2.OutgoingHttpHeaders, { endStream: body === null, waitForTrailers: body !== null && head.trailers !== undefined });
    } catch (err) {
      queueMicrotask(() => sink.onError(new UpstreamError('connect', (err as Error).message, err), false));
      return { resume() {}, abort() {} };
    }
    this.#streamOpened();
    // One object per request, its listeners shared functions (no closures per stream).
    return new H2Exchange(this, stream, head, body, sink, carriesPeer);
  }

  /**
   * The request's head as Node's raw form, name, value, name, value: Node takes it as it is, where an
   * object is first copied field by field into a null-prototype one (a dictionary, slow to fill and to
   * walk) and kept as the stream's sentHeaders, which nothing here reads. Fields set after the
   * downstream's (the tunnel's own, the source metadata) replace one of the same name, as in an object;
   * a head that would need that (or names a pseudo-header) goes the object way.
   */
  #requestHeaders(head: UpstreamHead, carriesPeer: boolean): http2.OutgoingHttpHeaders | unknown[] {
    const own = head.headers;
    const perRequest = this.#perRequest;
    const raw: unknown[] = [':method', head.method, ':path', head.path, ':authority', head.authority, ':scheme', head.scheme];
    for (const k in own) {
      if (hopByHop.has(k)) continue;
      if (k.charCodeAt(0) === 58 /* : */ || k === TARGET_PORT_HEADER || k === PROTOCOL_HEADER || k === PEER_HEADER || (perRequest !== undefined && perRequest[k] !== undefined)) {
        return this.#requestHeaderObject(head, carriesPeer);
      }
      const v = own[k];
      if (v !== undefined) raw.push(k, v);
    }
    if (own['te'] === 'trailers') raw.push('te', 'trailers');
    if (head.targetPort !== undefined) {
      raw.push(TARGET_PORT_HEADER, String(head.targetPort));
      if (head.downstreamProtocol) raw.push(PROTOCOL_HEADER, head.downstreamProtocol);
    }
    if (perRequest) for (const k in perRequest) raw.push(k, perRequest[k]);
    if (carriesPeer) raw.push(PEER_HEADER, this.#peer as string);
    return raw;
  }

  /** The same head as an object, for the rare one whose own fields share a name with those set after them. */
  #requestHeaderObject(head: UpstreamHead, carriesPeer: boolean): http2.OutgoingHttpHeaders {
    const headers: http2.OutgoingHttpHeaders = {
      ':method': head.method,
      ':path': head.path,
      ':authority': head.authority,
      ':scheme': head.scheme,
    };
    // for-in, not Object.entries: no entry arrays per header on every request.
    for (const k in head.headers) if (!hopByHop.has(k)) headers[k] = head.headers[k];
    if (head.headers['te'] === 'trailers') headers['te'] = 'trailers';
    if (head.targetPort !== undefined) {
      headers[TARGET_PORT_HEADER] = String(head.targetPort);
      if (head.downstreamProtocol) headers[PROTOCOL_HEADER] = head.downstreamProtocol;
    }
    const perRequest = this.#perRequest;
    if (perRequest) for (const k in perRequest) headers[k] = perRequest[k];
    if (carriesPeer) headers[PEER_HEADER] = this.#peer as string;
    return headers;
  }

  /** A stream closed: its slot is free. */
  streamClosed(): void {
    this.active--;
    if (this.active === 0 && this.#streams >= this.#maxStreams) this.#session.close();
    this.#events.onStreamEnd(this);
    if (this.active === 0) this.#armIdle();
  }

  /** The peer answered a request that carried the source's metadata: the server holds it now. */
  peerAnswered(): void {
    this.#peerKnown = true;
  }

  /** Opens a CONNECT tunnel stream to `authority` (TCP through the mesh tunnel). */
  connect(authority: string): Promise<Duplex> {
    return this.#open({ ':method': 'CONNECT', ':authority': authority, ...(this.#opts.extraHeaders ?? {}) });
  }

  /**
   * Opens a stream that carries one HTTP/1.1 connection to the tunnel at `authority` (an extended
   * CONNECT, RFC 8441, with `:protocol` HTTP1_CARRIER_PROTOCOL). Null when the peer's SETTINGS do
   * not allow extended CONNECT: a tunnel server that predates carried connections.
   */
  carry(authority: string): Promise<Duplex | null> {
    if (this.#session.remoteSettings.enableConnectProtocol !== true) return Promise.resolve(null);
    const headers: http2.OutgoingHttpHeaders = { ':method': 'CONNECT', ':protocol': HTTP1_CARRIER_PROTOCOL, ':scheme': 'https', ':path': '/', ':authority': authority };
    // The source's metadata, once for every request the carried connection takes (H1Pool's carriedExtraHead).
    if (this.#peer !== undefined) headers[PEER_HEADER] = this.#peer;
    return this.#open(headers).then((stream) => {
      this.#carried.add(stream);
      stream.once('close', () => this.#carried.delete(stream));
      return stream;
    });
  }

  #open(headers: http2.OutgoingHttpHeaders): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.#session.request(headers);
      } catch (err) {
        reject(new UpstreamError('connect', (err as Error).message, err));
        return;
      }
      this.#opened(stream);
      stream.on('error', (err) => reject(new UpstreamError('connect', err.message, err)));
      // Closed without an error (RST_STREAM CANCEL or NO_ERROR, or the session's socket closing): no
      // 'error' comes, and the caller must not wait for its connect timeout.
      stream.once('close', () => reject(new UpstreamError('connect', `tunnel stream closed before its response (code ${stream.rstCode})`)));
      stream.once('response', (h) => {
        const status = Number(h[':status']);
        const peer = h[PEER_HEADER];
        if (typeof peer === 'string') connectPeers.set(stream, peer);
        if (status >= 200 && status < 300) resolve(stream);
        else {
          stream.close();
          reject(new UpstreamError('connect', `tunnel CONNECT answered ${status}`));
        }
      });
    });
  }

  close(): Promise<void> {
    const s = this.#session;
    this.#leave(undefined);
    if (s.closed || s.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => s.close(() => resolve()));
  }

  destroy(): void {
    this.#session.destroy();
  }
}

const kExchange = Symbol('outrigger.h2.exchange');
type Tagged = { [kExchange]?: H2Exchange };

function exchangeOf(emitter: unknown): H2Exchange {
  return (emitter as Tagged)[kExchange] as H2Exchange;
}

function onResponse(this: http2.ClientHttp2Stream, h: http2.IncomingHttpHeaders): void {
  exchangeOf(this).onResponse(h);
}
function onData(this: http2.ClientHttp2Stream, chunk: Buffer): void {
  const x = exchangeOf(this);
  if (!x.sink.onData(chunk)) this.pause();
}
function onTrailers(this: http2.ClientHttp2Stream, t: http2.IncomingHttpHeaders): void {
  const x = exchangeOf(this);
  for (const k in t) {
    const v = t[k];
    if (v !== undefined && !k.startsWith(':')) x.trailers[k] = v as string | string[];
  }
}
function onEnd(this: http2.ClientHttp2Stream): void {
  exchangeOf(this).onEnd();
}
function onError(this: http2.ClientHttp2Stream, err: Error): void {
  exchangeOf(this).fail(err);
}
function onClose(this: http2.ClientHttp2Stream): void {
  exchangeOf(this).onClose();
}
function onWantTrailers(this: http2.ClientHttp2Stream): void {
  const trailersOf = exchangeOf(this).head.trailers;
  if (trailersOf) this.sendTrailers(trailersOf());
}
function onDrain(this: http2.ClientHttp2Stream): void {
  exchangeOf(this).bodyDrained();
}
// The request body's events: the body carries its exchange too (one attempt reads a body; a retry gets a fresh one).
function onBodyData(this: Readable, chunk: Buffer): void {
  exchangeOf(this).bodyData(chunk);
}
function onBodyEnd(this: Readable): void {
  exchangeOf(this).bodyEnded();
}
function onBodyError(this: Readable): void {
  // A body that fails (its client gone) is cut: RST_STREAM CANCEL alone, never END_STREAM before it.
  const x = (this as Tagged)[kExchange];
  if (x) addAbortSignal(AbortSignal.abort(), x.stream);
}
function endLater(stream: http2.ClientHttp2Stream): void {
  stream.end();
}

/**
 * Codes nghttp2 and Node reset a stream with themselves when its peer breaks HTTP/2 or a limit (a bad
 * header field, a body past its content-length, a stream window overrun, too many header fields): Node
 * closes such a stream as it closes one its peer reset, and they cannot be told apart, so they stay a
 * connection termination (UC). Envoy's codec calls a messaging error ProtocolError and the others
 * connection errors; a peer's reset with one of these codes is RemoteReset there.
 */
function mayBeLocalReset(code: number): boolean {
  const c = http2.constants;
  return code === c.NGHTTP2_PROTOCOL_ERROR || code === c.NGHTTP2_FLOW_CONTROL_ERROR || code === c.NGHTTP2_STREAM_CLOSED || code === c.NGHTTP2_FRAME_SIZE_ERROR || code === c.NGHTTP2_ENHANCE_YOUR_CALM;
}

/**
 * A stream-close channel message: a stream still live (not torn down with its session nor destroyed
 * here) closes because its peer reset it, or ended it both ways. Envoy's onStreamClose takes any reset
 * before both ends as the peer's (RemoteReset; RemoteRefusedStreamReset for REFUSED_STREAM, ConnectError
 * for CONNECT_ERROR), flagged UR. A code other than NO_ERROR: Node destroys the stream with it just after,
 * and the exchange fails as the peer's reset (peerReset). NO_ERROR: Node's client takes it as the
 * body's end, ending the readable side (rstCode 0) just as after END_STREAM (RFC 9113 §8.1: a response
 * is whole only with it). The channel runs before that end is pushed: a readable side not yet ended got
 * no END_STREAM, and the reset cut the response. After END_STREAM it only stops the request body.
 */
function onClientStreamClose(message: unknown): void {
  const stream = (message as { stream: http2.ClientHttp2Stream }).stream;
  const x = (stream as Tagged)[kExchange];
  if (x === undefined || stream.destroyed) return;
  const code = stream.rstCode;
  if (code !== http2.constants.NGHTTP2_NO_ERROR) {
    if (!mayBeLocalReset(code)) x.peerReset = code;
    return;
  }
  if ((stream as unknown as { _readableState: { ended: boolean } })._readableState.ended) return;
  // Not inside Node's close: a retry would open its stream in the middle of the session's read.
  process.nextTick(cutByPeer, x);
}
subscribe('http2.client.stream.close', onClientStreamClose);

function cutByPeer(x: H2Exchange): void {
  x.cutByPeer();
}

/**
 * One request on a session: the response's events to the sink, and the request body relayed into the
 * stream with backpressure (what `body.pipe(stream)` did, without a pipe's closures and listeners per
 * stream): each chunk written as it comes, the body paused while the stream is full and resumed on its
 * 'drain', the stream ended with the body. Stopping the relay (the response complete, the request
 * aborted, the stream gone) pauses the body, as unpiping it did.
 */
class H2Exchange implements UpstreamExchange {
  readonly conn: H2Connection;
  readonly stream: http2.ClientHttp2Stream;
  readonly head: UpstreamHead;
  readonly sink: UpstreamSink;
  readonly #body: Readable | null;
  readonly #carriesPeer: boolean;
  readonly #wasConnected: boolean;
  #done = false;
  #aborted = false;
  #gotHead = false;
  #relaying = false;
  #bodyPaused = false;
  /** 'drain' follows only a write that returned false: listened from the first one, not on every stream. */
  #drainListened = false;
  trailers: OutgoingHeaders = {};
  /** The RST_STREAM code its peer reset the stream with (onClientStreamClose): the failure that follows is a remote reset. */
  peerReset = -1;

  constructor(conn: H2Connection, stream: http2.ClientHttp2Stream, head: UpstreamHead, body: Readable | null, sink: UpstreamSink, carriesPeer: boolean) {
    this.conn = conn;
    this.stream = stream;
    this.head = head;
    this.sink = sink;
    this.#body = body;
    this.#carriesPeer = carriesPeer;
    this.#wasConnected = conn.connected;
    (stream as Tagged)[kExchange] = this;
    stream.on('response', onResponse);
    stream.on('trailers', onTrailers);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
    if (body) {
      // A stream asks for its trailers once, and a body ends once: on, not once (no wrapper per stream).
      if (head.trailers) stream.on('wantTrailers', onWantTrailers);
      (body as Tagged)[kExchange] = this;
      body.on('error', onBodyError);
      this.#relaying = true;
      if (body.readableEnded) {
        this.#relaying = false;
        process.nextTick(endLater, stream);
      } else {
        body.on('data', onBodyData);
        body.on('end', onBodyEnd);
        body.resume();
      }
    }
  }

  onResponse(h: http2.IncomingHttpHeaders): void {
    if (this.#carriesPeer) this.conn.peerAnswered();
    // A stream already failed (and perhaps retried elsewhere) must not deliver a second head.
    if (this.#done) return;
    this.#gotHead = true;
    // A response whole with its head (gRPC's trailers-only answer) takes no more of the body: the relay
    // stops before the sink sees it (the router then drains what is left, as it did by unpiping).
    if (this.stream.endAfterHeaders) this.#stopRelay();
    const out: OutgoingHeaders = {};
    let status = 200;
    for (const k in h) {
      const v = h[k];
      if (k === ':status') status = Number(v);
      else if (!k.startsWith(':') && v !== undefined) out[k] = v as string | string[];
    }
    this.sink.onHead(status, out);
    // Node emits 'response' on the next tick but pushes DATA at once: reading only from here keeps
    // body bytes that arrived with the HEADERS frame from reaching the sink before the head does.
    if (!this.#done) this.stream.on('data', onData);
  }

  onEnd(): void {
    if (this.#done) return;
    const stream = this.stream;
    // The session went away under the stream: the response is cut short, not complete.
    if (endedByTeardown(stream)) {
      this.fail(new UpstreamError(this.#gotHead || this.conn.connected ? 'reset' : 'connect', `stream closed with its session (code ${stream.rstCode})`));
      return;
    }
    if (!this.#gotHead) {
      this.fail(new UpstreamError('protocol', 'stream ended without a response head'));
      return;
    }
    this.#done = true;
    // The response is complete and the request is not: nothing will end the request now (the router
    // drains or drops what is left of the body), so the stream is reset, RST_STREAM NO_ERROR as Envoy's
    // router resets it (onUpstreamComplete). Left open it would hold a stream slot and its window on
    // the session until the session dies. The response has been read whole: nothing of it is lost.
    // destroy(), not close(): close() ends a stream still being written (END_STREAM) before its
    // RST_STREAM, and the upstream would take the cut body as whole; destroy() sends the reset alone.
    // A peer's RST_STREAM NO_ERROR after its END_STREAM (RFC 9113 §8.1) has ended the stream's request
    // side already (Node ends it as it closes): the relay stops all the same.
    if (this.#body !== null) {
      this.#stopRelay();
      if (!stream.writableEnded) stream.destroy();
    }
    const trailers = this.trailers;
    this.trailers = {};
    this.sink.onEnd(trailers);
  }

  fail(err: Error): void {
    if (this.#done) return;
    this.#done = true;
    // A stream with no id yet (Node's `pending`) never had its HEADERS submitted: nothing went out.
    const sent = !this.stream.pending;
    // Envoy's onGoAway drains whatever the code, and nghttp2 closes each stream above last-stream-id
    // with REFUSED_STREAM (RemoteRefusedStreamReset, retried by refused-stream).
    if (this.peerReset < 0 && (this.stream.id ?? 0) > this.conn.goawayLastStreamId) this.peerReset = http2.constants.NGHTTP2_REFUSED_STREAM;
    if (this.peerReset >= 0) {
      // "(code N)", as resetReason and the router read a refused stream and a CONNECT error.
      const reset = new UpstreamError('reset', `stream reset by the peer (code ${this.peerReset})`, err);
      reset.remoteResetCode = this.peerReset;
      this.sink.onError(reset, sent);
      return;
    }
    const connectPhase = !this.#gotHead && !this.#wasConnected && !this.conn.connected;
    this.sink.onError(err instanceof UpstreamError ? err : new UpstreamError(connectPhase ? 'connect' : 'reset', err.message, err), !connectPhase && sent);
  }

  onClose(): void {
    // The stream takes no more of the body (a pipe unpiped itself on its destination's close).
    this.#stopRelay();
    this.conn.streamClosed();
    if (!this.#done) this.fail(new UpstreamError(this.#gotHead ? 'reset' : this.conn.connected ? 'reset' : 'connect', `stream closed (code ${this.stream.rstCode})`));
  }

  /**
   * The peer's RST_STREAM NO_ERROR came before its END_STREAM (onClientStreamClose): a reset, never the
   * response's end. Before the 'end' Node would emit for it, and at once: Node destroys the stream only
   * once its cut body has been read, and nothing reads it now.
   */
  cutByPeer(): void {
    if (this.#done) return;
    const err = new UpstreamError('reset', 'stream reset by the peer before its end (RST_STREAM NO_ERROR)');
    err.remoteResetCode = http2.constants.NGHTTP2_NO_ERROR;
    this.fail(err);
    this.#stopRelay();
    this.stream.destroy();
  }

  bodyData(chunk: Buffer): void {
    if (!this.#relaying) return;
    if (!this.stream.write(chunk) && !this.#bodyPaused) {
      this.#bodyPaused = true;
      this.#body?.pause();
      if (!this.#drainListened) {
        this.#drainListened = true;
        this.stream.on('drain', onDrain);
      }
    }
  }

  bodyDrained(): void {
    if (!this.#bodyPaused) return;
    this.#bodyPaused = false;
    if (this.#relaying) this.#body?.resume();
  }

  bodyEnded(): void {
    if (!this.#relaying) return;
    this.#detach();
    this.stream.end();
  }

  #detach(): void {
    this.#relaying = false;
    const body = this.#body as Readable;
    body.removeListener('data', onBodyData);
    body.removeListener('end', onBodyEnd);
    if (this.#drainListened) this.stream.removeListener('drain', onDrain);
  }

  /** The relay stops and the body is paused, as unpiping it did (the router drains what is left). */
  #stopRelay(): void {
    if (!this.#relaying) return;
    this.#detach();
    this.#bodyPaused = false;
    (this.#body as Readable).pause();
  }

  // Before the head nothing reads the stream: flowing then would drop body bytes.
  resume(): void {
    if (this.#gotHead) this.stream.resume();
  }

  // RST_STREAM CANCEL alone. close(CANCEL) would end a stream still being written first (END_STREAM,
  // then the reset), and for an instant the upstream would hold a cut body as whole. Destroyed with an
  // AbortError (what an aborted signal destroys a stream with), Node sends the reset alone, code CANCEL.
  // Once: the pool hands this exchange out as it is (no wrapper that ignores a second abort).
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#done = true;
    this.#stopRelay();
    addAbortSignal(AbortSignal.abort(), this.stream);
  }
}
