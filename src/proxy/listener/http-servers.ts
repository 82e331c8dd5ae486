// The HTTP/1.1 and HTTP/2 codecs of one listener. HTTP/1.1 is the raw-socket codec (h1-server.ts);
// HTTP/2 a Node server that never listens itself. The listener hands them connections after filter
// chain selection and protocol detection.
import http2 from 'node:http2';
import net from 'node:net';
import { Duplex } from 'node:stream';
import type { HcmRuntime } from '../http/connection-manager.ts';
import { handleHttp } from '../http/connection-manager.ts';
import { type H1Request, type H1Response, H1ServerConnection, type HandedRequest, h1ServerDefaults } from '../http/h1-server.ts';
import { kStreamCloseHook, type StreamCloseHooked, serverExchange } from '../http/h2-server.ts';
import type { ConnectionInfo, DownstreamRequest } from '../http/stream.ts';
import { realTimers } from '../http/router.ts';
import { DEFAULT_STREAM_IDLE_TIMEOUT_MS } from '../http/stream-timeouts.ts';
import type { Timers } from '../http/router.ts';
import { HCM_IDLE_TIMEOUT_MS, type HttpChain } from './compile-listener.ts';
import { MAX_SESSION_INVALID_FRAMES, refuseStream, watchFloods, watchPeerGoaway, watchPrematureResets } from './h2-abuse.ts';

export interface HttpConnContext {
  connection: ConnectionInfo;
  chain: HttpChain | ((req: DownstreamRequest) => HttpChain | undefined);
  /** HTTP/1 CONNECT and Upgrade handlers (forward proxy, WebSocket). */
  onConnect?: (req: HandedRequest, socket: Duplex, head: Buffer) => void;
  onUpgrade?: (req: HandedRequest, socket: Duplex, head: Buffer) => void;
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0');

/**
 * A stream that yields `first` and then everything the socket reads (bytes put back with unshift
 * included): for a tunnelled CONNECT stream detected as HTTP/2, and for a TLS socket made over a TCP
 * socket whose ClientHello was read to choose its chain (a socket's own handle would skip those bytes).
 */
export function replay(socket: Duplex, first: Buffer | null): Duplex {
  const wrapper = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      socket.write(chunk, cb);
    },
    final(cb) {
      socket.end(cb);
    },
    destroy(err, cb) {
      socket.destroy(err ?? undefined);
      cb(err);
    },
  });
  if (first) wrapper.push(first);
  socket.on('data', (c: Buffer) => {
    if (!wrapper.push(c)) socket.pause();
  });
  socket.on('end', () => wrapper.push(null));
  socket.on('close', () => wrapper.destroy());
  wrapper.on('error', () => {});
  return wrapper;
}

/**
 * Limits from the security reference: Envoy's edge defaults where Node's are unsafe. The header list
 * size is an outer bound only: Node holds a stream to it only once the client has acknowledged these
 * settings, and counts cookie crumbs and 32 bytes per field in it. parseRequest enforces the exact
 * limits on every decoded head (60 KiB without the crumbs, as Envoy's codec, and 60 KiB of joined
 * cookie apart), and h2-server.ts on request trailers; so the list may hold both, and 32 bytes for each
 * of its at most 128 pairs (maxHeaderListPairs).
 */
export const h2Settings: http2.Settings = { maxConcurrentStreams: 100, initialWindowSize: 65_535, maxHeaderListSize: 2 * h1ServerDefaults.maxHeadBytes + 32 * 128 };

/**
 * The HCM connection idle_timeout of one HTTP/2 session: its active streams counted (each stream handed
 * to the connection manager carries the session's hook, run by its HttpStream's close listener: no
 * closure, listener or timer per stream). One timer, kept while streams come and go: when it fires with
 * streams active it lapses (the count's next 0 arms it again); without any, the session closes if it
 * has been idle the whole timeout, else the timer runs for the rest. On expiry, GOAWAY and close (Node's
 * close() ends a session without streams at once).
 */
class SessionIdle {
  active = 0;
  timer: unknown;
  idleSince: number;
  readonly session: http2.ServerHttp2Session;
  readonly ms: number;
  readonly timers: Timers;
  readonly now: () => number;
  readonly expire: () => void;
  constructor(session: http2.ServerHttp2Session, ms: number, timers: Timers, now: () => number) {
    this.session = session;
    this.ms = ms;
    this.timers = timers;
    this.now = now;
    this.idleSince = now();
    this.expire = () => {
      this.timer = undefined;
      if (this.active > 0 || this.session.closed || this.session.destroyed) return;
      const left = this.ms - (this.now() - this.idleSince);
      if (left > 0) this.timer = this.timers.set(this.expire, left);
      else this.session.close();
    };
    this.timer = timers.set(this.expire, ms);
  }
  /** The last active stream ended: idle from now. */
  idle(): void {
    this.idleSince = this.now();
    if (this.timer === undefined) this.timer = this.timers.set(this.expire, this.ms);
  }
  /** A stream handed to the connection manager closed (its HttpStream's close listener runs this). */
  streamClosed(): void {
    if (--this.active === 0 && !this.session.closed) this.idle();
  }
  stop(): void {
    if (this.timer === undefined) return;
    this.timers.clear(this.timer);
    this.timer = undefined;
  }
}

const kIdle = Symbol('sessionIdle');

/** Shared by every session. */
function onIdleSessionClose(this: http2.ServerHttp2Session & { [kIdle]?: SessionIdle }): void {
  this[kIdle]?.stop();
}

export class HttpServers {
  #h2: http2.Http2Server;
  #byStream = new WeakMap<object, HttpConnContext>();
  #sessions = new Set<http2.ServerHttp2Session>();
  #h1Conns = new Set<H1ServerConnection>();
  #pending: HttpConnContext | undefined;
  #spoke: (() => void) | undefined;
  readonly #rt: HcmRuntime;

  constructor(rt: HcmRuntime) {
    this.#rt = rt;
    this.#h2 = http2.createServer({ settings: h2Settings, maxSessionMemory: 10, maxHeaderListPairs: 128, maxSessionInvalidFrames: MAX_SESSION_INVALID_FRAMES });
    this.#h2.on('session', (session) => {
      const ctx = this.#pending;
      this.#pending = undefined;
      const spoke = this.#spoke;
      if (spoke) session.once('remoteSettings', spoke);
      if (ctx) this.#byStream.set(session, ctx);
      this.#sessions.add(session);
      session.on('error', () => {});
      const stats = rt.codecStats;
      if (stats) watchFloods(session, (stat) => stats.inc(stat));
      watchPrematureResets(session, rt.now, stats ? { onPrematureResetClose: () => stats.inc('too_many_premature_resets') } : {});
      session.once('close', () => this.#sessions.delete(session));
      const chain = ctx?.chain;
      const idleMs = typeof chain === 'object' ? (chain.connectionIdleMs ?? HCM_IDLE_TIMEOUT_MS) : HCM_IDLE_TIMEOUT_MS;
      const timers = rt.timers ?? realTimers;
      if (idleMs > 0) {
        (session as http2.ServerHttp2Session & { [kIdle]?: SessionIdle })[kIdle] = new SessionIdle(session, idleMs, timers, rt.now);
        session.on('close', onIdleSessionClose);
      }
      // A client that said GOAWAY: the session ends once silent for the stream idle timeout (h2-abuse.ts);
      // a stream idle timeout turned off (0) still bounds it, at the default, lest it live for ever.
      watchPeerGoaway(session, timers, (typeof chain === 'object' && chain.streamTimeouts?.idleMs) || DEFAULT_STREAM_IDLE_TIMEOUT_MS);
    });
    // Streams are served as they come, without Node's compat request and response (h2-server.ts).
    this.#h2.on('stream', (stream, headers, _flags, rawHeaders) => {
      stream.on('error', () => {});
      const ctx = this.#byStream.get(stream.session as object);
      if (!ctx) return void refuseStream(stream, http2.constants.NGHTTP2_REFUSED_STREAM);
      // CONNECT over HTTP/2 has no handler on a listener: 405, as Node's compat server answers it.
      if (headers[':method'] === 'CONNECT') return void stream.respond({ ':status': 405 }, { endStream: true });
      const x = serverExchange(stream, headers, rawHeaders as unknown as string[]);
      if (!x) return;
      // Active until its close: counted for the session's idle timeout, the hook run by the HttpStream's
      // own 'close' listener (a second listener per stream cost the HTTP/2 path ~10% CPU).
      const idle = (stream.session as (http2.ServerHttp2Session & { [kIdle]?: SessionIdle }) | undefined)?.[kIdle];
      if (idle) {
        idle.active++;
        (stream as StreamCloseHooked)[kStreamCloseHook] = idle;
      }
      void handleHttp(rt, ctx.chain, ctx.connection, x.req, x.res).catch(() => refuseStream(stream, http2.constants.NGHTTP2_INTERNAL_ERROR));
    });
  }

  /** Detects HTTP/2 (prior knowledge preface) or HTTP/1.1 and hands the stream to that codec. */
  serve(socket: Duplex, ctx: HttpConnContext, knownH2 = false): void {
    socket.on('error', () => {});
    const timers = this.#rt.timers ?? realTimers;
    const silent = timers.set(() => socket.destroy(), h1ServerDefaults.headersTimeoutMs);
    socket.once('close', () => timers.clear(silent));
    if (knownH2) {
      // The session reads the socket itself (no 'data' events): its client's SETTINGS (sent with the
      // preface) ends the silence.
      this.#serveH2(socket, ctx, true, () => timers.clear(silent));
      return;
    }
    let held: Buffer | null = null;
    const detect = (read: Buffer): void => {
      const chunk = held === null ? read : Buffer.concat([held, read]);
      // `P` or `PR` alone may start the preface or a method (POST, PUT, PATCH): read on to decide, as a
      // client may send the preface a byte at a time.
      if (chunk.length < 3 && H2_PREFACE.subarray(0, chunk.length).equals(chunk)) {
        held = chunk;
        socket.once('data', detect);
        return;
      }
      timers.clear(silent);
      const n = Math.min(chunk.length, H2_PREFACE.length);
      if (chunk.length >= 3 && H2_PREFACE.subarray(0, n).equals(chunk.subarray(0, n))) {
        socket.pause();
        // A TCP socket goes to the session as it is, the bytes read for detection put back: Node's
        // session takes what is already buffered and reads the handle natively. Any other stream (a
        // tunnelled one) needs the replaying wrapper, which runs every byte through JavaScript.
        if (socket instanceof net.Socket) {
          socket.unshift(chunk);
          this.#serveH2(socket, ctx, false);
        } else this.#serveH2(replay(socket, chunk), ctx);
        return;
      }
      // HTTP/1.1 parses the chunk at once; the socket flows on into the codec's own listener.
      this.#serveH1(socket, ctx, chunk);
    };
    socket.once('data', detect);
  }

  #serveH1(socket: Duplex, ctx: HttpConnContext, first: Buffer): void {
    const rt = this.#rt;
    const onRequest = (req: H1Request, res: H1Response): void => {
      void handleHttp(rt, ctx.chain, ctx.connection, req, res).catch(() => res.destroy());
    };
    const c = new H1ServerConnection(socket, { ...h1ServerDefaults, onConnect: ctx.onConnect, onUpgrade: ctx.onUpgrade, timers: rt.timers }, onRequest, first);
    this.#h1Conns.add(c);
    socket.once('close', () => this.#h1Conns.delete(c));
  }

  /** `resume`: false for a socket holding bytes put back, which the session reads itself (resuming would emit them to no one). */
  #serveH2(socket: Duplex, ctx: HttpConnContext, resume = true, spoke?: () => void): void {
    this.#pending = ctx;
    this.#spoke = spoke;
    this.#h2.emit('connection', socket);
    this.#pending = undefined;
    this.#spoke = undefined;
    if (resume) socket.resume();
  }

  /** Drain: GOAWAY on every HTTP/2 session, close idle HTTP/1 connections. */
  drain(): void {
    for (const s of this.#sessions) s.close();
    for (const c of this.#h1Conns) c.drain();
  }

  /** Hard stop at the drain deadline. */
  destroy(): void {
    for (const s of this.#sessions) s.destroy();
    for (const c of this.#h1Conns) c.socket.destroy();
  }
}
