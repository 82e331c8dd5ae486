// HTTP/1.1 client connections to one endpoint and their keep-alive pool: Envoy's HTTP/1 codec and
// connection pool on raw sockets. A request head is written as one string; the response is parsed in
// place (status line, fields, then Content-Length, chunked or read-until-close framing) and handed to
// the sink as slices of the socket's buffers. Plain TCP to local applications, or TLS (the mesh tunnel).
import { constants as h2constants } from 'node:http2';
import net from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import tls from 'node:tls';
import type { OutgoingHeaders, Upstream, UpstreamExchange, UpstreamHead, UpstreamSink } from './upstream.ts';
import { ChunkedDecoder } from '../http/chunked.ts';
import { BAD_OUTGOING_VALUE, DIGITS, fieldName, persists, TOKEN } from '../http/field-syntax.ts';
import { EMPTY, Stash } from '../http/stash.ts';
import { ownField } from '../http/h1-server.ts';
import { needsRequestTrailers } from './h1-trailer-request.ts';
import { connectTimeout, endedByTeardown, RETIRE_EVENT, UpstreamError } from './upstream.ts';
import { connectPeerOf } from './h2-connection.ts';
import { realTimers, type Timers } from '../http/router.ts';
import { REFUSED_PEER_GRACE_MS, spiffeIdOf } from '../tunnel/mesh-tls.ts';
import { MAX_TIMER_MS } from '../../xds/long-timer.ts';

const { NGHTTP2_CANCEL } = h2constants;

export interface H1ClientOptions {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  /** Connections this endpoint may open; requests past it wait for one to be free. */
  readonly maxConnections: number;
  /** Close a connection idle this long (0: never). */
  readonly idleTimeoutMs: number;
  /** Close a connection after this many requests (0: no limit). */
  readonly maxRequestsPerConnection: number;
  /** TCP keep-alive: first probe after this many ms (0 = OS default); absent = off. */
  readonly tcpKeepaliveMs?: number;
  /** TLS for every connect (read per connection, so rotated certificates apply), or why none can be made. */
  readonly tls?: () => tls.ConnectionOptions | string;
  /** Header lines added to every request, already serialized (`name: value\r\n`). */
  readonly extraHead?: string;
  /** The same for a request on a carried connection, whose carrier sent the rest once (default: extraHead). */
  readonly carriedExtraHead?: string;
  /** Header name carrying `head.targetPort` (the mesh tunnel's target port). */
  readonly targetPortHeader?: string;
  /**
   * Where requests go when a TLS peer picks `h2` by ALPN (a tunnel server that predates HTTP/1.1 on
   * the tunnel): its HTTP/2 upstream. Without one, such a connection is a connect failure.
   */
  readonly fallback?: () => Upstream;
  /**
   * Opens each connection as a stream carried on a multiplexed session (the mesh tunnel's HTTP/2
   * session) instead of a socket of its own. Null when the peer cannot carry one: the pool then
   * connects with `tls` for a minute before it asks again.
   */
  readonly carrier?: () => Promise<Duplex | null>;
  /**
   * Opens each connection on a socket the caller makes (TLS a DestinationRule originates, inside a
   * tunnel stream), resolved once it is up: it stands for a socket of its own, not a carried one.
   */
  readonly dial?: () => Promise<Duplex>;
  /** Each connection made (the cluster's `upstream_cx_total`). */
  readonly onConnected?: () => void;
  /** The last connection is gone (closed, or failed to connect) and no request waits here: the pool may be dropped. */
  readonly onIdle?: () => void;
  /** The clock the connect timeout runs on (the proxy's); the real one when absent. */
  readonly timers?: Timers;
}

/** What a connection runs on: a TCP or TLS socket, or a stream carried on an HTTP/2 session. */
type ClientSocket = Duplex & { setTimeout(ms: number): unknown };
/** A carried connection's stream and its session. */
/** An HTTP/2 stream (`close(code)` resets it with that code), or any duplex standing in for one. */
type CarriedStream = Duplex & { session?: { closed: boolean; destroyed: boolean }; close?: (code: number) => void };

/** Resets a carried stream with CANCEL (a stand-in without `close` is destroyed). */
function cancel(stream: CarriedStream): void {
  if (stream.destroyed) return;
  if (stream.close) stream.close(NGHTTP2_CANCEL);
  else stream.destroy();
}

/** How long a carried connection that was ended waits for its peer's end before it is reset. */
const CARRIED_END_MS = 5000;


/** Largest response head accepted (status line and fields): Envoy's default 60 KiB. */
export const MAX_RESPONSE_HEAD = 60 * 1024;

/** What a received field value may hold: HTAB, visible ASCII, space and obs-text (RFC 9110 §5.5). */
const BAD_RECEIVED = /[^\t\x20-\x7e\x80-\xff]/;
/** The status of a status line `HTTP/1.0|1 SSS[ reason]` (1xx to 5xx), or -1: char codes, no match arrays. */
function statusOf(line: string): number {
  if (line.length < 12 || !line.startsWith('HTTP/1.') || line.charCodeAt(8) !== 0x20 || (line.length > 12 && line.charCodeAt(12) !== 0x20)) return -1;
  const minor = line.charCodeAt(7);
  const a = line.charCodeAt(9) - 0x30;
  const b = line.charCodeAt(10) - 0x30;
  const c = line.charCodeAt(11) - 0x30;
  if ((minor !== 0x30 && minor !== 0x31) || a < 1 || a > 5 || b < 0 || b > 9 || c < 0 || c > 9) return -1;
  return a * 100 + b * 10 + c;
}

/** Body framing of the response being read (responseFraming's answer). */
export const NONE = 0;
export const LENGTH = 1;
export const CHUNKED = 2;
export const UNTIL_CLOSE = 3;
/** responseFraming's refusals: a content-length that is not one length; both content-length and transfer-encoding. */
export const FRAMING_BAD_LENGTH = -1;
export const FRAMING_BOTH = -2;

// Patterns used per request or response, made once (a pattern literal in a function is a new RegExp each call).
const WHITESPACE = /[\s]/;
const CHUNKED_LAST = /(^|,)\s*chunked\s*$/;
const KEEP_ALIVE_TIMEOUT = /(?:^|[,;\s])timeout=(\d+)/i;

/** The last `Keep-Alive` value read, and the park time it gives: a server sends the same one every time. */
let lastHint = '';
let lastHintMs: number | undefined;

/** `Keep-Alive: timeout=N`: N seconds less one, in ms; undefined without a timeout. */
function parkMsOf(hint: string): number | undefined {
  if (hint === lastHint) return lastHintMs;
  const seconds = KEEP_ALIVE_TIMEOUT.exec(hint)?.[1];
  lastHintMs = seconds === undefined ? undefined : Number(seconds) * 1000 - 1000;
  lastHint = hint;
  return lastHintMs;
}

/** Field lines (`name: value\r\n`); throws an UpstreamError naming a field that cannot be sent. */
function serializeFields(h: OutgoingHeaders, skipLength: boolean): string {
  let s = '';
  for (const k in h) {
    const v = h[k] as string | string[];
    if (skipLength && k === 'content-length') continue;
    if (fieldName(k) === undefined) throw new UpstreamError('protocol', `invalid request header name ${JSON.stringify(k)}`);
    if (typeof v === 'string') {
      if (BAD_OUTGOING_VALUE.test(v)) throw new UpstreamError('protocol', `invalid value for request header ${k}`);
      s += `${k}: ${v}\r\n`;
    } else {
      for (let i = 0; i < v.length; i++) {
        const one = v[i] as string;
        if (BAD_OUTGOING_VALUE.test(one)) throw new UpstreamError('protocol', `invalid value for request header ${k}`);
        s += `${k}: ${one}\r\n`;
      }
    }
  }
  return s;
}

/** The request head as one string. A chunked body drops Content-Length (it may carry trailers). */
function serializeHead(head: UpstreamHead, extra: string, targetPortHeader: string | undefined, chunked: boolean): string {
  if (BAD_OUTGOING_VALUE.test(head.authority) || WHITESPACE.test(head.path) || !TOKEN.test(head.method)) throw new UpstreamError('protocol', 'invalid request line or authority');
  let s = `${head.method} ${head.path} HTTP/1.1\r\nhost: ${head.authority}\r\n${serializeFields(head.headers, chunked)}`;
  if (targetPortHeader !== undefined && head.targetPort !== undefined) s += `${targetPortHeader}: ${head.targetPort}\r\n`;
  if (chunked) s += 'transfer-encoding: chunked\r\n';
  return `${s}${extra}\r\n`;
}

function addField(out: OutgoingHeaders, name: string, value: string): void {
  const had = out[name];
  if (had === undefined) out[name] = value;
  // A name Object.prototype has (`__proto__`, `constructor`…) reads as the inherited value at first: an
  // own field then (checked only on a repeat or such a name; a null-prototype map is slower to fill).
  else if (!Object.hasOwn(out, name)) ownField(out, name, value);
  else if (typeof had === 'string') out[name] = [had, value];
  else had.push(value);
}

/** Parses `name: value` lines from `lines[from]` on into `out`; false on a malformed line. */
function parseFields(lines: string[], from: number, out: OutgoingHeaders): boolean {
  for (let i = from; i < lines.length; i++) {
    const line = lines[i] as string;
    if (!parseFieldLine(line, 0, line.length, out)) return false;
  }
  return true;
}

/** What String.prototype.trim removes, of the characters a latin1 head can hold. */
function trimmed(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0;
}

/**
 * One `name: value` field line, `text[start, stop)`, into `out`: the value trimmed as trim() trims it,
 * one slice. False on a malformed line: no colon, an empty name, whitespace before the colon, or
 * obs-fold (a continuation line), or a value with a character a field may not hold.
 */
function parseFieldLine(text: string, start: number, stop: number, out: OutgoingHeaders): boolean {
  const colon = text.indexOf(':', start);
  if (colon <= start || colon >= stop) return false;
  const name = fieldName(text.slice(start, colon));
  if (name === undefined) return false;
  let a = colon + 1;
  let b = stop;
  while (a < b && trimmed(text.charCodeAt(a))) a++;
  while (b > a && trimmed(text.charCodeAt(b - 1))) b--;
  const value = text.slice(a, b);
  if (BAD_RECEIVED.test(value)) return false;
  addField(out, name, value);
  return true;
}

/** Most fields a response head may have: Envoy's max_headers_count default (past it, 502 UPE). */
export const MAX_RESPONSE_HEADERS = 100;

/** What parseHeadFields found. */
const FIELDS_OK = 0;
const FIELDS_MALFORMED = 1;
const FIELDS_TOO_MANY = 2;

/**
 * The field lines of a response head's text, after its status line ending at `eol` (-1: none), parsed
 * into `out` (lines end at LF, a CR before it dropped), found by index in the one string: no array of
 * lines. FIELDS_MALFORMED on a malformed line, FIELDS_TOO_MANY past MAX_RESPONSE_HEADERS lines.
 */
function parseHeadFields(text: string, eol: number, out: OutgoingHeaders): number {
  let lf = eol;
  let count = 0;
  while (lf >= 0) {
    if (++count > MAX_RESPONSE_HEADERS) return FIELDS_TOO_MANY;
    const start = lf + 1;
    lf = text.indexOf('\n', start);
    let stop = lf < 0 ? text.length : lf;
    if (lf >= 0 && stop > start && text.charCodeAt(stop - 1) === 0x0d) stop--;
    if (!parseFieldLine(text, start, stop, out)) return FIELDS_MALFORMED;
  }
  return FIELDS_OK;
}

/** What parseResponseHead found besides a status. */
export const RESPONSE_HEAD_MALFORMED = -1;
export const RESPONSE_HEAD_TOO_MANY = -2;
export const RESPONSE_HEAD_BAD_STATUS = -3;

/**
 * A response head's text (status line and fields, without its blank line) parsed into `out`: its status,
 * or RESPONSE_HEAD_BAD_STATUS (a status line that is not `HTTP/1.x` with a status of 1xx to 5xx),
 * RESPONSE_HEAD_MALFORMED (a malformed field line), or RESPONSE_HEAD_TOO_MANY (past MAX_RESPONSE_HEADERS fields). The status
 * line ends at the first LF (a CR before it dropped), as the field lines do. `line` gets the status line.
 */
export function parseResponseHead(text: string, out: OutgoingHeaders, line?: { text: string }): number {
  const eol = text.indexOf('\n');
  const statusLine = eol < 0 ? text : text.slice(0, eol > 0 && text.charCodeAt(eol - 1) === 0x0d ? eol - 1 : eol);
  if (line) line.text = statusLine;
  const status = statusOf(statusLine);
  if (status < 0) return RESPONSE_HEAD_BAD_STATUS;
  const fields = parseHeadFields(text, eol, out);
  return fields === FIELDS_OK ? status : fields === FIELDS_TOO_MANY ? RESPONSE_HEAD_TOO_MANY : RESPONSE_HEAD_MALFORMED;
}

/**
 * How a final response frames its body, from its head's fields as parseResponseHead gave them, its
 * status and whether it answers a HEAD request: NONE, LENGTH (the length is
 * `Number(headers['content-length'])`), CHUNKED or UNTIL_CLOSE; or a refusal, which is a protocol error
 * (502 UPE), as Envoy's codec refuses the response: FRAMING_BAD_LENGTH, FRAMING_BOTH. A repeated, equal
 * Content-Length is one (RFC 9110 §8.6), and goes on as one in `headers`: an HTTP/2 client's head may
 * carry a single-value field only once. The HTTP/1.1 client's and a refused upgrade's one check.
 */
export function responseFraming(headers: OutgoingHeaders, status: number, headRequest: boolean): number {
  const te = headers['transfer-encoding'];
  let cl = headers['content-length'];
  if (Array.isArray(cl) && cl.every((v) => v === cl?.[0])) headers['content-length'] = cl = cl[0] as string;
  // Conflicting values, or not a length: refused whatever the status. Relayed on a 204, a 304 or a
  // HEAD answer (which have no body to frame), they would fail the downstream client's parser instead.
  if (cl !== undefined && (Array.isArray(cl) || !DIGITS.test(cl))) return FRAMING_BAD_LENGTH;
  if (headRequest || status === 204 || status === 304) return NONE;
  // Both framings at once: which one the server meant is unknowable, so the response is refused, as
  // Envoy refuses it (passing both on would send the decoded body under the wrong length).
  if (te !== undefined && cl !== undefined) return FRAMING_BOTH;
  if (te !== undefined) return CHUNKED_LAST.test((Array.isArray(te) ? te.join(',') : te).toLowerCase()) ? CHUNKED : UNTIL_CLOSE;
  if (cl !== undefined) return Number(cl) > 0 ? LENGTH : NONE;
  return UNTIL_CLOSE;
}

/** One request on a connection, from the head written to the response's end. */
interface Exchange {
  readonly head: UpstreamHead;
  readonly body: Readable | null;
  readonly sink: UpstreamSink;
  /** The request body has been written in full. */
  sent: boolean;
  done: boolean;
}

/** One HTTP/1.1 connection: at most one exchange at a time (no pipelining). */
class H1Connection {
  readonly #pool: H1Pool;
  /** Null only while a carried connection is being opened. */
  #socket: ClientSocket | null = null;
  /** The stream, when the connection is carried on an HTTP/2 session. */
  #carried: CarriedStream | null = null;
  #retired = false;
  #connected = false;
  #ex: Exchange | null = null;
  #requests = 0;
  #closed = false;
  /** The connect timeout, on the pool's timers; cleared once connected or gone. */
  #connectTimer: unknown;
  readonly #timers: Timers;
  // Response state.
  readonly #stash = new Stash();
  #inHead = true;
  #framing = NONE;
  #remaining = 0;
  readonly #chunks = new ChunkedDecoder(MAX_RESPONSE_HEAD, true);
  #keepAlive = true;
  #reuse = false;
  /** How long the server keeps this connection idle, less a second (its `Keep-Alive: timeout`). */
  #parkMs: number | undefined;
  /**
   * The idle timeout while parked: one timer re-armed (refresh) at each parking, where a socket timeout
   * set and cleared around every request made a timer and a bound function each time. It acts only
   * while `#parkArmed`; a connection taken for a request disarms it.
   */
  #parkTimer: NodeJS.Timeout | undefined;
  #parkTimerMs = 0;
  #parkArmed = false;

  constructor(pool: H1Pool, opts: H1ClientOptions) {
    this.#pool = pool;
    this.#timers = opts.timers ?? realTimers;
    this.#connectTimer = this.#timers.set(() => this.#fail(connectTimeout(opts.connectTimeoutMs), true), opts.connectTimeoutMs);
    if (opts.dial) {
      opts.dial().then(
        (socket) => {
          if (this.#closed) return void socket.destroy();
          this.#attach(socket as ClientSocket);
          this.#onConnect(opts, false);
        },
        (err: Error) => this.#fail(classify(err, false), true),
      );
    } else if (opts.carrier && pool.carries) {
      opts.carrier().then(
        (stream) => {
          if (this.#closed) return void (stream ? cancel(stream as CarriedStream) : undefined);
          if (stream === null) {
            pool.carrierRefused();
            this.#attach(this.#dial(opts));
            return;
          }
          this.#carried = stream as CarriedStream;
          this.#attach(stream as ClientSocket);
          // The session retires (its peer's certificate expired): an idle connection on it closes now.
          stream.once(RETIRE_EVENT, () => {
            if (this.#ex === null) this.close();
          });
          this.#onConnect(opts, false);
        },
        (err: Error) => this.#fail(classify(err, false), true),
      );
    } else this.#attach(this.#dial(opts));
  }

  /** A socket of its own: TCP, or TLS (the tunnel without a carrier, or a peer that cannot carry). */
  #dial(opts: H1ClientOptions): net.Socket {
    const t = opts.tls?.();
    if (typeof t === 'string') {
      // No TLS can be set up yet (a certificate not delivered): a socket that fails as a connect error.
      queueMicrotask(() => this.#fail(new UpstreamError('connect', `tls: ${t}`), true));
      return new net.Socket();
    }
    if (t) {
      const socket = tls.connect({ ...t, host: opts.host, port: opts.port });
      socket.setNoDelay(true);
      socket.once('secureConnect', () => this.#onConnect(opts, true));
      return socket;
    }
    const socket = net.connect({ host: opts.host, port: opts.port, noDelay: true });
    socket.once('connect', () => this.#onConnect(opts, true));
    return socket;
  }

  #attach(socket: ClientSocket): void {
    this.#socket = socket;
    // A sink that throws (a response the downstream codec refuses) fails this exchange, never the process.
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#onData(chunk);
      } catch (err) {
        this.#fail(new UpstreamError('protocol', `response refused downstream: ${(err as Error).message}`, err), false);
      }
    });
    // First in line: Node's own 'end' listener on an HTTP/2 stream may destroy it after a real END_STREAM.
    socket.prependListener('end', () => {
      try {
        this.#onEnd();
      } catch (err) {
        this.#fail(new UpstreamError('protocol', `response refused downstream: ${(err as Error).message}`, err), false);
      }
    });
    socket.on('error', (err: Error & { code?: string }) => this.#fail(classify(err, this.#connected), !this.#connected));
    socket.on('close', () => this.#fail(new UpstreamError(this.#connected ? 'reset' : 'connect', 'connection closed'), !this.#connected));
    socket.on('timeout', () => this.close());
  }

  /** The connection's socket or carried stream: there is one from the moment it is connected. */
  get socket(): ClientSocket {
    return this.#socket as ClientSocket;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /**
   * The metadata (`x-outrigger-peer`) the destination answered this connection's carrier CONNECT with:
   * who answers every response on it, which then goes without the header. Undefined off a carrier.
   */
  get answeredPeer(): string | undefined {
    return this.#carried === null ? undefined : connectPeerOf(this.#carried);
  }

  /** A carried connection whose stream or session is going (its peer's certificate expired), or one the pool retired: not reused. */
  get retired(): boolean {
    if (this.#retired) return true;
    const s = this.#carried;
    return s !== null && (s.destroyed || s.session === undefined || s.session.closed || s.session.destroyed);
  }

  /** Whether `refused` refuses the verified peer of this TLS connection of its own; a carried one is its session's to judge. */
  ownPeerRefused(refused: (peerId: string | undefined) => boolean): boolean {
    const socket = this.#socket;
    if (this.#carried || !this.#connected || !(socket instanceof tls.TLSSocket)) return false;
    return refused(spiffeIdOf(socket.getPeerCertificate()?.raw));
  }

  /**
   * Its peer no longer qualifies: idle, it closes now; busy, its exchange has REFUSED_PEER_GRACE_MS to
   * finish before the connection is reset (and it is not reused after).
   */
  retire(timers: Timers): void {
    if (this.#retired || this.#closed) return;
    this.#retired = true;
    if (this.#ex === null) return void this.close();
    const grace = timers.set(() => this.close(true), REFUSED_PEER_GRACE_MS);
    this.socket.once('close', () => timers.clear(grace));
  }

  get busy(): boolean {
    return this.#ex !== null;
  }

  #onConnect(opts: H1ClientOptions, ownSocket: boolean): void {
    this.#timers.clear(this.#connectTimer);
    this.#connected = true;
    opts.onConnected?.();
    if (ownSocket) {
      const socket = this.socket as net.Socket;
      if (opts.fallback && (socket as tls.TLSSocket).alpnProtocol === 'h2') {
        this.#pool.pickedH2(this);
        return;
      }
      if (opts.tcpKeepaliveMs !== undefined) socket.setKeepAlive(true, opts.tcpKeepaliveMs);
    }
    this.#pool.ready(this);
  }

  /** Writes one request; the connection is connected and idle. */
  start(ex: Exchange): void {
    this.#ex = ex;
    this.#requests++;
    this.#inHead = true;
    this.#keepAlive = true;
    const socket = this.socket;
    this.#parkArmed = false;
    const body = ex.body;
    // Trailers travel only in a chunked body (announced by the downstream's `Trailer:`).
    const trailered = body !== null && needsRequestTrailers(ex.head, body);
    const chunked = body !== null && (trailered || ex.head.headers['content-length'] === undefined);
    let headText: string;
    try {
      const opts = this.#pool.opts;
      headText = serializeHead(ex.head, (this.#carried !== null ? (opts.carriedExtraHead ?? opts.extraHead) : opts.extraHead) ?? '', opts.targetPortHeader, chunked);
    } catch (err) {
      // Nothing was written: the connection stays good.
      this.#ex = null;
      this.#requests--;
      ex.done = true;
      this.#pool.idle(this);
      ex.sink.onError(err as UpstreamError, false);
      return;
    }
    socket.write(headText, 'latin1');
    if (body === null) {
      ex.sent = true;
      return;
    }
    const onData = (c: Buffer): void => {
      if (ex.done) return;
      let ok: boolean;
      if (chunked) {
        socket.cork();
        socket.write(`${c.length.toString(16)}\r\n`, 'latin1');
        socket.write(c);
        ok = socket.write('\r\n', 'latin1');
        socket.uncork();
      } else ok = socket.write(c);
      if (!ok) {
        body.pause();
        socket.once('drain', () => body.resume());
      }
    };
    const onEnd = (): void => {
      if (ex.done) return;
      if (chunked) {
        let last = '0\r\n';
        if (trailered) {
          try {
            last += serializeFields((ex.head.trailers as () => OutgoingHeaders)(), false);
          } catch (err) {
            this.#fail(err as UpstreamError, false);
            return;
          }
        }
        socket.write(`${last}\r\n`, 'latin1');
      }
      ex.sent = true;
    };
    // An empty body may have ended before a connection was ready (a Readable given push(null) alone ends
    // with no reader): its 'end' is gone, and the last chunk is owed now, as the HTTP/2 upstream does.
    if (body.readableEnded) {
      onEnd();
      return;
    }
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', () => {
      if (!ex.done) this.#fail(new UpstreamError('reset', 'request body failed'), false);
    });
    body.resume();
  }

  /** Downstream drained: read on, if `ex` is still this connection's exchange. */
  resume(ex: Exchange): void {
    if (this.#ex === ex && !ex.done) this.socket.resume();
  }

  /** Abandons the exchange in progress: the connection cannot be reused. */
  abort(ex: Exchange): void {
    if (this.#ex !== ex || ex.done) return;
    ex.done = true;
    this.#ex = null;
    this.close(true);
  }

  /**
   * Closes the connection. A carried one between exchanges ends as a TCP connection does, with
   * END_STREAM each way, not a reset: a Node peer takes resets at a limited rate (1,000 in a burst,
   * then 33 a second by default) and past it closes the session and every stream on it. `reset` for an
   * exchange abandoned midway or a peer that broke the protocol.
   */
  close(reset = false): void {
    if (this.#closed) {
      // A peer that keeps sending after the graceful end (bytes with no request) is reset now.
      if (reset) this.#reset();
      return;
    }
    this.#closed = true;
    this.#timers.clear(this.#connectTimer);
    this.#unpark();
    const carried = this.#carried;
    if (carried && !reset && this.#ex === null) {
      carried.end();
      // A peer that never ends its side is reset after a while (a timer its bytes do not refresh).
      const timer = setTimeout(() => this.#reset(), CARRIED_END_MS).unref();
      carried.once('close', () => clearTimeout(timer));
    } else this.#reset();
    this.#pool.gone(this);
  }

  /** Drops the connection: a carried one with RST_STREAM(CANCEL), the code for a stream no longer wanted. */
  #reset(): void {
    if (this.#carried) cancel(this.#carried);
    else this.#socket?.destroy();
  }

  /** A socket failure: the exchange in progress (if any) reports it; the pool forgets the connection. */
  #fail(err: UpstreamError, beforeConnect: boolean): void {
    const ex = this.#ex;
    this.#ex = null;
    if (ex && !ex.done) {
      ex.done = true;
      // An exchange on a connection has had its head written (start() writes it at once).
      ex.sink.onError(err, true);
    }
    if (this.#closed) return;
    this.#closed = true;
    this.#timers.clear(this.#connectTimer);
    this.#unpark();
    this.#reset();
    this.#pool.gone(this, beforeConnect ? err : undefined);
  }

  #onEnd(): void {
    const ex = this.#ex;
    // A carried stream torn down with its session: the connection failed, it did not close.
    if (this.#carried && endedByTeardown(this.#carried)) {
      this.#fail(new UpstreamError(this.#connected ? 'reset' : 'connect', 'carried connection lost with its session'), !this.#connected);
      return;
    }
    if (ex && !ex.done && !this.#inHead && this.#framing === UNTIL_CLOSE) {
      // A response without a length ends with the connection.
      ex.done = true;
      this.#ex = null;
      ex.sink.onEnd({});
      this.close();
      return;
    }
    // The peer closed an idle connection (its keep-alive timeout): it closes on this side too.
    if (!ex && this.#connected) return void this.close();
    this.#fail(new UpstreamError(this.#connected ? 'reset' : 'connect', 'upstream closed the connection'), !this.#connected);
  }

  #onData(chunk: Buffer): void {
    const ex = this.#ex;
    if (!ex) {
      // Bytes with no request outstanding: a broken or closing peer. The connection is not reused.
      this.close(true);
      return;
    }
    // An unfinished head or chunk line is held as parts until a read can finish it (linear in a head
    // sent a byte at a time).
    const stash = this.#stash;
    let buf = chunk;
    if (stash.length > 0) {
      if (this.#inHead ? !stash.endsHead(chunk) : chunk.indexOf(0x0a) < 0) {
        stash.add(chunk);
        if (stash.length > MAX_RESPONSE_HEAD) this.#protocolError(this.#inHead ? 'response head too large' : 'chunk line too long');
        return;
      }
      buf = stash.take(chunk);
    }
    while (buf.length > 0 && this.#ex === ex && !ex.done) {
      if (this.#inHead) {
        const end = headEnd(buf);
        if (end < 0) {
          if (buf.length > MAX_RESPONSE_HEAD) this.#protocolError('response head too large');
          else stash.hold(buf);
          return;
        }
        if (end > MAX_RESPONSE_HEAD) {
          this.#protocolError('response head too large');
          return;
        }
        const rest = this.#head(buf, end);
        if (rest === null) return;
        buf = rest;
        continue;
      }
      buf = this.#body(buf, ex);
    }
    if (ex.done && this.#ex === ex) this.#release(buf.length > 0);
  }

  /** After a response ended in the bytes just read: back to the pool, or closed (bytes past its end, no keep-alive). */
  #release(leftover: boolean): void {
    this.#ex = null;
    this.#inHead = true;
    if (this.#reuse && !leftover) {
      if (this.socket.isPaused()) this.socket.resume();
      this.#pool.idle(this);
    } else this.close(leftover);
  }

  #protocolError(message: string): void {
    this.#fail(new UpstreamError('protocol', message), false);
  }

  /** Parses the head ending at `end` (the index after its blank line); returns the bytes after it, or null when the exchange ended. */
  #head(buf: Buffer, end: number): Buffer | null {
    const ex = this.#ex as Exchange;
    const text = buf.toString('latin1', 0, end - (buf[end - 2] === 0x0d ? 4 : 2));
    const headers: OutgoingHeaders = {};
    const statusLine = { text: '' };
    const status = parseResponseHead(text, headers, statusLine);
    if (status < 0) {
      this.#protocolError(status === RESPONSE_HEAD_TOO_MANY ? 'too many response headers' : status === RESPONSE_HEAD_BAD_STATUS ? 'malformed response status line' : 'malformed response header');
      return null;
    }
    const line = statusLine.text;
    const rest = buf.subarray(end);
    if (status < 200) {
      // 1xx interim responses are dropped; 101 is never asked for on this path.
      if (status === 101) {
        this.#protocolError('unexpected 101 Switching Protocols');
        return null;
      }
      return rest;
    }
    const connection = headers['connection'];
    this.#keepAlive = persists(line.charCodeAt(7) === 0x31, Array.isArray(connection) ? connection.join(',') : connection);
    // `Keep-Alive: timeout=N`: the server closes an idle connection after N s; park it a second less,
    // so a request is never written onto a socket the server is closing (as undici did).
    const hint = headers['keep-alive'];
    this.#parkMs = typeof hint === 'string' ? parkMsOf(hint) : undefined;
    if (this.#parkMs !== undefined && this.#parkMs <= 0) this.#keepAlive = false;
    const framing = responseFraming(headers, status, ex.head.method === 'HEAD');
    if (framing < 0) {
      this.#protocolError(framing === FRAMING_BOTH ? 'response with both content-length and transfer-encoding' : 'invalid response content-length');
      return null;
    }
    this.#framing = framing;
    if (framing === CHUNKED) this.#chunks.reset();
    else if (framing === LENGTH) this.#remaining = Number(headers['content-length']);
    if (this.#framing === UNTIL_CLOSE) this.#keepAlive = false;
    this.#inHead = false;
    ex.sink.onHead(status, headers);
    if (this.#framing === NONE && !ex.done) this.#finish(ex, {});
    return rest;
  }

  /** Consumes body bytes from `buf`; returns what is left (bytes after the response end are an error). */
  #body(buf: Buffer, ex: Exchange): Buffer {
    switch (this.#framing) {
      case LENGTH: {
        const n = Math.min(this.#remaining, buf.length);
        this.#remaining -= n;
        this.#deliver(ex, n === buf.length ? buf : buf.subarray(0, n));
        if (this.#remaining === 0 && !ex.done) this.#finish(ex, {});
        return n === buf.length ? EMPTY : buf.subarray(n);
      }
      case UNTIL_CLOSE:
        this.#deliver(ex, buf);
        return buf.subarray(buf.length);
      case CHUNKED:
        return this.#chunked(buf, ex);
      default:
        this.#protocolError('bytes after the response');
        return buf.subarray(buf.length);
    }
  }

  #chunked(buf: Buffer, ex: Exchange): Buffer {
    const used = this.#chunks.decode(buf, {
      data: (chunk) => {
        if (!ex.done) this.#deliver(ex, chunk);
      },
      end: (lines) => {
        const trailers: OutgoingHeaders = {};
        if (!parseFields(lines, 0, trailers)) this.#protocolError('malformed response trailer');
        else if (!ex.done) this.#finish(ex, trailers);
      },
      error: (message) => this.#protocolError(message),
    });
    if (this.#chunks.needMore) {
      this.#stash.hold(buf.subarray(used));
      return buf.subarray(buf.length);
    }
    return buf.subarray(used);
  }

  #deliver(ex: Exchange, chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (!ex.sink.onData(chunk)) this.socket.pause();
  }

  /** The response ended: the sink hears it; #onData then releases the connection. */
  #finish(ex: Exchange, trailers: OutgoingHeaders): void {
    ex.done = true;
    const max = this.#pool.opts.maxRequestsPerConnection;
    this.#reuse = this.#keepAlive && ex.sent && (max === 0 || this.#requests < max);
    ex.sink.onEnd(trailers);
  }

  /** Idle: closed after the pool's idle timeout. */
  parked(idleMs: number): void {
    const ms = Math.min(MAX_TIMER_MS, this.#parkMs === undefined ? idleMs : idleMs > 0 ? Math.min(idleMs, this.#parkMs) : this.#parkMs);
    if (!(ms > 0)) return;
    this.#parkArmed = true;
    if (this.#parkTimer !== undefined && this.#parkTimerMs === ms) this.#parkTimer.refresh();
    else {
      clearTimeout(this.#parkTimer);
      this.#parkTimerMs = ms;
      this.#parkTimer = setTimeout(this.#onParkTimeout, ms).unref();
    }
  }

  readonly #onParkTimeout = (): void => {
    if (this.#parkArmed) this.close();
  };

  #unpark(): void {
    this.#parkArmed = false;
    clearTimeout(this.#parkTimer);
    this.#parkTimer = undefined;
  }
}

/** Index just past the blank line that ends a head (CRLF CRLF, or bare LF LF), or -1. */
function headEnd(buf: Buffer): number {
  const crlf = buf.indexOf('\r\n\r\n', 0, 'latin1');
  const lf = buf.indexOf('\n\n', 0, 'latin1');
  // Whichever comes first: a body holding the other must not be read as fields.
  if (lf >= 0 && (crlf < 0 || lf < crlf)) return lf + 2;
  return crlf >= 0 ? crlf + 4 : -1;
}

function classify(err: Error & { code?: string }, connected: boolean): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const code = err.code ?? '';
  // Any error before the connection is up (its TLS handshake and peer identity check included) is a
  // connection failure (UF). Once it is up, the request may have been written: whatever the error's
  // code (a TCP timeout, a TLS record error), it is a reset, never a connect failure a retry could
  // take as "nothing sent".
  if (!connected) return new UpstreamError('connect', `${code || 'connect'}: ${err.message}`, err);
  return new UpstreamError('reset', `${code || 'reset'}: ${err.message}`, err);
}

/** A request waiting for a connection. */
interface Waiting {
  readonly ex: Exchange;
  conn: H1Connection | null;
  /** The exchange on the fallback upstream, once handed there. */
  inner?: UpstreamExchange;
}

/** The keep-alive pool of one endpoint: idle connections are reused most-recent first. */
export class H1Pool {
  readonly opts: H1ClientOptions;
  /** Requests the cluster's connection gate runs here (Upstream.gated). */
  gated = 0;
  #all = new Set<H1Connection>();
  #idle: H1Connection[] = [];
  #connecting = 0;
  #queue: Waiting[] = [];
  #closed = false;
  /** The peer chose HTTP/2 (at this time): requests go to the fallback until a minute later, then it is asked again. */
  #h2Since: number | undefined;
  /** The peer could not carry a connection (at this time): connections get sockets of their own for a minute. */
  #noCarrierSince: number | undefined;

  constructor(opts: H1ClientOptions) {
    this.opts = opts;
  }

  /** Connections established and not closed. */
  connections(): number {
    return this.#all.size - this.#connecting;
  }

  request(head: UpstreamHead, body: Readable | null, sink: UpstreamSink): UpstreamExchange {
    if (this.speaksH2 && this.opts.fallback) return this.opts.fallback().request(head, body, sink);
    const ex: Exchange = { head, body, sink, sent: false, done: false };
    const w: Waiting = { ex, conn: null };
    if (this.#closed) queueMicrotask(() => this.#failWaiting(w, new UpstreamError('connect', 'upstream closed')));
    else {
      let c = this.#idle.pop();
      while (c?.retired) {
        c.close();
        c = this.#idle.pop();
      }
      if (c) this.#run(w, c);
      else {
        this.#queue.push(w);
        this.#grow();
      }
    }
    return {
      resume: () => (w.inner ? w.inner.resume() : w.conn?.resume(ex)),
      abort: (reason: string) => {
        if (w.inner) return void w.inner.abort(reason);
        if (ex.done) return;
        if (w.conn) w.conn.abort(ex);
        else {
          ex.done = true;
          const i = this.#queue.indexOf(w);
          if (i >= 0) this.#queue.splice(i, 1);
        }
      },
    };
  }

  #run(w: Waiting, c: H1Connection): void {
    w.conn = c;
    // The request has its connection now (Envoy's onPoolReady), not when it was queued or dialled.
    w.ex.sink.onPoolReady?.(c.answeredPeer);
    c.start(w.ex);
  }

  #failWaiting(w: Waiting, err: UpstreamError): void {
    if (w.ex.done) return;
    w.ex.done = true;
    // It never had a connection: nothing of it was written.
    w.ex.sink.onError(err, false);
  }

  /** Opens a connection when requests wait for more than the connections being opened can take. */
  #grow(): void {
    while (this.#queue.length > this.#connecting && this.#all.size < this.opts.maxConnections) {
      this.#connecting++;
      this.#all.add(new H1Connection(this, this.opts));
    }
  }

  /** The peer picked h2 by ALPN: this connection closes, and what waits goes to the HTTP/2 fallback. */
  pickedH2(c: H1Connection): void {
    this.#h2Since = Date.now();
    this.#connecting--;
    this.#all.delete(c);
    c.close();
    const fallback = (this.opts.fallback as () => Upstream)();
    const waiting = this.#queue;
    this.#queue = [];
    for (const w of waiting) if (!w.ex.done) w.inner = fallback.request(w.ex.head, w.ex.body, w.ex.sink);
  }

  /** The peer speaks only HTTP/2 (a tunnel server that predates HTTP/1.1 on it), as of its last answer: the caller sends HTTP/2. */
  get speaksH2(): boolean {
    if (this.#h2Since === undefined) return false;
    // Peers get upgraded in place: after a minute, the next connection asks again.
    if (Date.now() - this.#h2Since < 60_000) return true;
    this.#h2Since = undefined;
    return false;
  }

  /** New connections are carried streams (the options have a carrier and the peer has not refused one in the last minute). */
  get carries(): boolean {
    if (this.#noCarrierSince === undefined) return true;
    if (Date.now() - this.#noCarrierSince < 60_000) return false;
    this.#noCarrierSince = undefined;
    return true;
  }

  carrierRefused(): void {
    this.#noCarrierSince = Date.now();
  }

  /** A new connection is up: it takes the oldest waiting request, or parks. */
  ready(c: H1Connection): void {
    this.#connecting--;
    this.idle(c);
  }

  idle(c: H1Connection): void {
    if (this.#closed || c.retired) {
      c.close();
      return;
    }
    const w = this.#queue.shift();
    if (w) {
      this.#run(w, c);
      return;
    }
    c.parked(this.opts.idleTimeoutMs);
    this.#idle.push(c);
  }

  /** A connection closed. If it never connected, the oldest waiting request it was opened for fails. */
  gone(c: H1Connection, connectError?: UpstreamError): void {
    if (!this.#all.delete(c)) return;
    if (!c.connected) this.#connecting--;
    const i = this.#idle.indexOf(c);
    if (i >= 0) this.#idle.splice(i, 1);
    if (connectError && this.#queue.length > this.#connecting) {
      const w = this.#queue.shift() as Waiting;
      this.#failWaiting(w, connectError);
    }
    this.#grow();
    if (this.opts.onIdle && this.#all.size === 0) queueMicrotask(this.#checkIdle);
  }

  /** After what the connection's end set off (a failed request's retry may queue here again). */
  readonly #checkIdle = (): void => {
    if (this.#all.size === 0 && this.#queue.length === 0 && !this.#closed) this.opts.onIdle?.();
  };

  /**
   * Retires the connections of their own (TLS, not carried) whose verified peer `refused` now refuses:
   * idle ones close, busy ones are reset after the grace. Carried connections go with their session.
   */
  retireIf(refused: (peerId: string | undefined) => boolean, timers: Timers): void {
    for (const c of [...this.#all]) if (c.ownPeerRefused(refused)) c.retire(timers);
  }

  /** Stops taking requests; idle connections close now, busy ones when their exchange ends (as an HTTP/2 GOAWAY lets streams finish). */
  async close(): Promise<void> {
    this.#closed = true;
    const waiting = this.#queue;
    this.#queue = [];
    for (const w of waiting) this.#failWaiting(w, new UpstreamError('connect', 'upstream closed'));
    for (const c of [...this.#all]) if (!c.busy) c.close();
  }
}
