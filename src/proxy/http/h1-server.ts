// HTTP/1.1 server codec on a raw socket, for listeners and the mesh tunnel: requests parsed in place
// into a light request object (a body stream only when there is a body), responses written as one head
// string merged with the first body bytes. One request at a time; pipelined requests wait in the
// buffer. Strict where smuggling lives: CRLF line ends, registered methods, token names, no control
// characters, no obs-fold, Content-Length digits only and never beside Transfer-Encoding, chunked the
// only coding. CONNECT and Upgrade requests are handed over with the socket (or refused).
import { http } from '../node-http.ts';

const { STATUS_CODES } = http;
import { Readable } from 'node:stream';
import type { Duplex } from 'node:stream';
import type { OutgoingHeaders } from '../upstream/upstream.ts';
import { ChunkedDecoder } from './chunked.ts';
import { closeDelayed, queued } from './delayed-close.ts';
import { asksClose, asksUpgrade, BAD_OUTGOING_VALUE, DIGITS, fieldName, persists, TOKEN } from './field-syntax.ts';
import { realTimers, type Timers } from './router.ts';
import { EMPTY, Stash } from './stash.ts';
import { MAX_TIMER_MS } from '../../xds/long-timer.ts';

export interface H1ServerOptions {
  /** Largest request head (request line and fields): Envoy's default 60 KiB. */
  readonly maxHeadBytes: number;
  /** A request head must arrive in full within this time of its first byte. */
  readonly headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  readonly keepAliveTimeoutMs: number;
  /**
   * CONNECT, or a request asking to upgrade (`Connection: upgrade` with `Upgrade`): the codec lets go
   * of the socket and hands it over with the bytes read past the head. Absent: 405 for CONNECT, 400
   * for an upgrade, and the connection closes.
   */
  readonly onConnect?: ((req: HandedRequest, socket: Duplex, head: Buffer) => void) | undefined;
  readonly onUpgrade?: ((req: HandedRequest, socket: Duplex, head: Buffer) => void) | undefined;
  /** The delayed close's timer (delayed-close.ts): the proxy's, a test's clock in tests; real timers when absent. */
  readonly timers?: Timers | undefined;
}

/** What a CONNECT or upgrade handler reads of the request (Node's IncomingMessage has it too). */
export interface HandedRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: NodeJS.Dict<string | string[]>;
  readonly rawHeaders: string[];
}

/** A TCP or TLS socket, or an HTTP/2 stream: a carried connection, or a tunnelled stream detected as HTTP/1.1. */
export type H1Socket = Duplex & { setTimeout?(ms: number): unknown };

/**
 * Output not yet on the wire: the stream's queue, and what the handle holds of a chunk partly written
 * (writableLength counts that chunk whole until its write completes).
 */
function queuedBytes(socket: H1Socket): number {
  return socket.writableLength + queued(socket);
}

export const h1ServerDefaults: H1ServerOptions = { maxHeadBytes: 60 * 1024, headersTimeoutMs: 60_000, keepAliveTimeoutMs: 60_000 };

/** The methods Node's parser (llhttp) knows: anything else, a lower-case `get` included, is refused. */
export const H1_METHODS: ReadonlySet<string> = new Set(
  'DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE QUERY'.split(' '),
);
/**
 * Control characters other than HTAB (field values); any whitespace, control or byte past ASCII
 * (request target: RFC 3986 has none, and llhttp refuses them, so an origin behind would answer 400).
 */
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const BAD_TARGET = /[\x00-\x20\x7f-\xff]/;

/** One request: what the connection manager reads of Node's IncomingMessage. */
export class H1Request {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: '1.0' | '1.1';
  /** Each field as sent, in order (`name, value, ...`), its name lower-cased as the map keys it. */
  readonly rawHeaders: string[];
  /** Lower-cased names; repeated fields joined with `, ` (`set-cookie` kept as a list), as Node does. */
  readonly headers: Record<string, string | string[]>;
  readonly socket: H1Socket;
  /** The body, when the request has one (Content-Length > 0 or chunked). */
  readonly body: Readable | null;
  /** A chunked body's trailers; the shared empty object until the first one arrives (most requests have none). */
  trailers: Record<string, string> = NO_TRAILERS;
  complete: boolean;
  /** The head's bytes on the wire, request line to blank line (Istio's request bytes count them). */
  headBytes = 0;
  /** A chunked body's framing on the wire: chunk lines, their CRLFs, the last chunk and trailers. */
  framingBytes = 0;

  constructor(method: string, url: string, httpVersion: '1.0' | '1.1', rawHeaders: string[], headers: Record<string, string | string[]>, socket: H1Socket, body: Readable | null) {
    this.method = method;
    this.url = url;
    this.httpVersion = httpVersion;
    this.rawHeaders = rawHeaders;
    this.headers = headers;
    this.socket = socket;
    this.body = body;
    this.complete = body === null;
  }

  /** Errors surface on the body stream; the request itself never emits. */
  on(_event: string, _fn: (...args: unknown[]) => void): this {
    return this;
  }
}

type Listener = () => void;

const NO_TRAILERS: Record<string, string> = Object.freeze({}) as Record<string, string>;
/** The interim response to `Expect: 100-continue`. */
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

let dateSecond = 0;
let dateField = '';

/** `date: <IMF-fixdate>\r\n`, made once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateField = `date: ${new Date(now).toUTCString()}\r\n`;
  }
  return dateField;
}
const noop = (): void => {};

/**
 * `map[name] = value` as an own, enumerable field, whatever the name: assigning `__proto__` would call
 * Object.prototype's setter (changing the map's prototype, or doing nothing for a string) instead.
 */
export function ownField(map: object, name: string, value: unknown): void {
  Object.defineProperty(map, name, { value, writable: true, enumerable: true, configurable: true });
}

/** A field value without its optional whitespace (spaces and tabs only, RFC 9110 §5.5). */
function ows(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** What a Connection value loses with an ignored h2c upgrade (Envoy's caseUnorderdSetContainingUpgradeAndHttp2Settings). */
const H2C_TOKENS: ReadonlySet<string> = new Set(['upgrade', 'http2-settings']);

/**
 * Removes an h2c upgrade from a request head, as Envoy's HTTP/1.1 codec does: `Upgrade` and
 * `HTTP2-Settings` go, and Connection loses its `upgrade` and `http2-settings` tokens (and goes when
 * none is left). `rawHeaders` is edited in place, the repeated Connection lines becoming one. Returns
 * the Connection value left.
 */
function dropH2cUpgrade(rawHeaders: string[], headers: Record<string, string | string[]>): string | undefined {
  let conn: string | undefined = (headers['connection'] as string)
    .split(',')
    .map((t) => ows(t))
    .filter((t) => !H2C_TOKENS.has(t.toLowerCase()))
    .join(',');
  if (conn === '') conn = undefined;
  delete headers['upgrade'];
  delete headers['http2-settings'];
  if (conn === undefined) delete headers['connection'];
  else headers['connection'] = conn;
  let w = 0;
  let connDone = false;
  for (let r = 0; r < rawHeaders.length; r += 2) {
    const name = rawHeaders[r] as string;
    if (name === 'upgrade' || name === 'http2-settings') continue;
    let value = rawHeaders[r + 1] as string;
    if (name === 'connection') {
      if (connDone || conn === undefined) continue;
      connDone = true;
      value = conn;
    }
    rawHeaders[w++] = name;
    rawHeaders[w++] = value;
  }
  rawHeaders.length = w;
  return conn;
}

/** One response: the part of Node's ServerResponse the connection manager and local replies use. */
export class H1Response {
  readonly #conn: H1ServerConnection;
  readonly #req: H1Request;
  headersSent = false;
  writableFinished = false;
  statusCode = 200;
  #preset: OutgoingHeaders | undefined;
  /** The head not yet written: it leaves with the first body bytes. */
  #pendingHead: string | null = null;
  #noBody = false;
  #chunked = false;
  #trailers: string | null = null;
  #ended = false;
  #close: Listener[] | null = null;
  #drain: Listener[] | null = null;
  #awaitingDrain = false;
  /** Close the connection after this response. */
  closeAfter = false;
  /** The head's bytes on the wire once written (status line to blank line, the codec's own fields included). */
  headBytes = 0;
  /**
   * What the codec wrote besides the head and the body: a chunked body's framing (chunk lines, their
   * CRLFs, the last chunk and trailers), and the interim `100 Continue` it answered an expectation with.
   */
  framingBytes = 0;

  constructor(conn: H1ServerConnection, req: H1Request) {
    this.#conn = conn;
    this.#req = req;
  }

  on(event: string, fn: Listener): this {
    if (event === 'close') {
      this.#close ??= [];
      this.#close.push(fn);
    } else if (event === 'drain') {
      this.#drain ??= [];
      this.#drain.push(fn);
    }
    return this;
  }

  setHeader(name: string, value: string | string[]): this {
    this.#preset ??= {};
    this.#preset[name.toLowerCase()] = value;
    return this;
  }

  writeHead(status: number, headers?: Record<string, string | string[] | number>): this {
    if (this.headersSent) throw new Error('headers already sent');
    const req = this.#req;
    const all: Record<string, string | string[] | number> = this.#preset ? { ...this.#preset, ...headers } : (headers ?? {});
    const noBody = req.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    let chunked = false;
    // A final response to a request whose body has not all arrived (a 408 to a stalled upload, a 413
    // answered early) closes the connection after it, as responded() does: Envoy's codec says so in the
    // head (its connection manager drains an HTTP/1 connection whose response starts before the request ends).
    let close = this.closeAfter || this.#conn.closing || (!req.complete && status >= 200);
    if (!Number.isInteger(status) || status < 100 || status > 999) throw new Error(`invalid status ${status}`);
    let s = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    let length = false;
    let date = false;
    let connection: string | undefined;
    for (const k in all) {
      const v = all[k] as string | string[] | number;
      const name = fieldName(k);
      if (name === undefined) throw new Error(`invalid response header name ${JSON.stringify(k)}`);
      if (name === 'content-length') length = true;
      else if (name === 'date') date = true;
      if (name === 'connection') {
        connection = String(v).toLowerCase();
        continue;
      }
      if (name === 'transfer-encoding') continue;
      if (typeof v === 'object') {
        for (let i = 0; i < v.length; i++) s += field(name, v[i] as string);
      } else s += field(name, typeof v === 'number' ? String(v) : v);
    }
    if (!noBody && !length) {
      // HTTP/1.1 frames an unknown length by chunks; HTTP/1.0 by closing the connection.
      if (req.httpVersion === '1.1') {
        chunked = true;
        s += 'transfer-encoding: chunked\r\n';
      } else close = true;
    }
    if (connection !== undefined && asksClose(connection)) close = true;
    // As Node's server did: a Date when the response has none, and the keep-alive timeout announced
    // (Outrigger's own HTTP/1.1 client parks a connection a second less than it).
    if (!date) s += httpDate();
    if (close) s += 'connection: close\r\n';
    else s += req.httpVersion === '1.0' ? `connection: keep-alive\r\n${this.#conn.keepAliveField}` : this.#conn.keepAliveField;
    // Sent only once the head is known to be valid: a refused head leaves room for a local reply.
    this.headersSent = true;
    this.statusCode = status;
    this.#noBody = noBody;
    this.#chunked = chunked;
    this.closeAfter = close;
    this.#pendingHead = `${s}\r\n`;
    this.headBytes = s.length + 2;
    return this;
  }

  write(chunk: Buffer | string): boolean {
    if (this.#ended) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    const socket = this.#conn.socket;
    const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (this.#noBody || size === 0) {
      if (this.#pendingHead !== null) return this.#flushHead();
      return true;
    }
    let ok: boolean;
    if (this.#pendingHead !== null && typeof chunk !== 'string' && size <= COALESCE_MAX) ok = socket.write(this.#headWith(chunk));
    else {
      socket.cork();
      if (this.#pendingHead !== null) {
        socket.write(this.#pendingHead, 'latin1');
        this.#pendingHead = null;
      }
      if (this.#chunked) {
        const line = `${size.toString(16)}\r\n`;
        this.framingBytes += line.length + 2;
        socket.write(line, 'latin1');
        socket.write(chunk);
        ok = socket.write('\r\n', 'latin1');
      } else ok = socket.write(chunk);
      socket.uncork();
    }
    // 'drain' listeners may come after the write that filled the socket (HttpStream adds its own then).
    if (!ok && !this.#awaitingDrain) {
      this.#awaitingDrain = true;
      socket.once('drain', () => this.#onDrain());
    }
    return ok;
  }

  /**
   * The pending head and a small first chunk (with its chunk framing) as one buffer: one plain write,
   * where cork and uncork would gather two or four pieces through the stream's writev path.
   */
  #headWith(chunk: Buffer): Buffer {
    const head = this.#chunked ? `${this.#pendingHead as string}${chunk.length.toString(16)}\r\n` : (this.#pendingHead as string);
    if (this.#chunked) this.framingBytes += head.length - (this.#pendingHead as string).length + 2;
    this.#pendingHead = null;
    const out = Buffer.allocUnsafe(head.length + chunk.length + (this.#chunked ? 2 : 0));
    out.write(head, 0, 'latin1');
    chunk.copy(out, head.length);
    if (this.#chunked) {
      out[out.length - 2] = 0x0d;
      out[out.length - 1] = 0x0a;
    }
    return out;
  }

  #flushHead(): boolean {
    const head = this.#pendingHead as string;
    this.#pendingHead = null;
    return this.#conn.socket.write(head, 'latin1');
  }

  /** Made only when a write fills the socket: most responses never wait for 'drain'. */
  #onDrain(): void {
    this.#awaitingDrain = false;
    for (const fn of this.#drain ?? []) fn();
  }

  addTrailers(trailers: Record<string, string | string[]>): void {
    let s = '';
    for (const k in trailers) {
      const v = trailers[k] as string | string[];
      if (typeof v === 'string') s += field(k, v);
      else for (const one of v) s += field(k, one);
    }
    this.#trailers = s;
  }

  end(data?: Buffer | string): this {
    if (this.#ended) return this;
    if (!this.headersSent) {
      // A body given at once has a known length.
      if (data !== undefined && !this.#preset?.['content-length']) this.setHeader('content-length', String(typeof data === 'string' ? Buffer.byteLength(data) : data.length));
      this.writeHead(this.statusCode);
    }
    const socket = this.#conn.socket;
    // Corked only when something is left to write: a response whose head and body are out (a length-framed
    // body written in full) ends with no write at all.
    const writes = data !== undefined || this.#pendingHead !== null || this.#chunked;
    if (writes) socket.cork();
    if (data !== undefined) this.write(data);
    this.#ended = true;
    if (this.#pendingHead !== null) this.#flushHead();
    if (this.#chunked) {
      const last = `0\r\n${this.#trailers ?? ''}\r\n`;
      this.framingBytes += last.length;
      socket.write(last, 'latin1');
    }
    if (writes) socket.uncork();
    this.writableFinished = true;
    this.#conn.responded(this);
    return this;
  }

  destroy(): void {
    this.#conn.socket.destroy();
  }

  /**
   * Ends the response unfinished: the head (if it still waits for body bytes) and what was written go
   * out, with no last chunk, then the connection closes as after any response that ends it. The client
   * reads a cut body (a chunked one without its end, a length not reached), as Envoy's HTTP/1.1 codec
   * leaves it when a stream is reset after its head.
   */
  cut(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#pendingHead !== null) this.#flushHead();
    this.closeAfter = true;
    this.#conn.responded(this);
  }

  /** The stream is over (response sent, or the connection gone): 'close' listeners run. */
  closed(): void {
    const fns = this.#close;
    this.#close = null;
    if (fns) for (const fn of fns) fn.call(this);
  }
}

function field(name: string, value: string): string {
  if (BAD_OUTGOING_VALUE.test(value)) throw new Error(`invalid value for response header ${name}`);
  return `${name}: ${value}\r\n`;
}


/** Largest first body chunk copied in behind the response head (larger ones go out beside it, uncopied). */
const COALESCE_MAX = 16 * 1024;

/** What the stash holds. */
const NOTHING = 0;
const HEAD = 1;
const CHUNK_LINE = 2;
const PIPELINED = 3;

/** Body framing of the request being read. */
const NONE = 0;
const LENGTH = 1;
const CHUNKED = 2;

/** A request head that cannot be served: the status to answer before closing. */
class HeadError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** One client connection: parses requests, hands each to `onRequest`, and writes its response. */
export class H1ServerConnection {
  readonly socket: H1Socket;
  readonly #opts: H1ServerOptions;
  /** The keep-alive timeout, clamped as socket.setTimeout() clamped (setTimeout runs a longer delay after 1 ms). */
  readonly #keepAliveMs: number;
  readonly #onRequest: (req: H1Request, res: H1Response) => void;
  /**
   * Bytes held for later, as parts joined once when usable: an unfinished head or chunk line, or
   * pipelined requests behind the one in flight. A head sent a byte at a time costs linear time.
   */
  readonly #stash = new Stash();
  #stashKind = NOTHING;
  #req: H1Request | null = null;
  #res: H1Response | null = null;
  #framing = NONE;
  #remaining = 0;
  /** Made at the first chunked request body: most connections never see one. */
  #chunks: ChunkedDecoder | null = null;
  #headTimer: NodeJS.Timeout | undefined;
  /**
   * The keep-alive timeout: one timer made at the first idle spell and re-armed (refresh) at each one
   * after, where a socket timeout set and cleared around every request made a timer and a bound function
   * each time. It runs only while `#idleArmed` (idle between requests); firing otherwise does nothing.
   */
  #idleTimer: NodeJS.Timeout | undefined;
  #idleArmed = false;
  /** The output still queued when the keep-alive timer was last armed: a slow reader's tail that drains re-arms it. */
  #idleQueued = 0;
  /** A response whose 'close' listeners wait for the microtask queued for them. */
  #toClose: H1Response | null = null;
  readonly #closeQueued = (): void => {
    const res = this.#toClose;
    this.#toClose = null;
    res?.closed();
  };
  #gone = false;
  #handed = false;
  /** Requests held until the socket drains (#awaitDrain): its one 'drain' listener is set. */
  #drainWait = false;
  readonly #listeners: { data: (chunk: Buffer) => void; end: () => void; close: () => void; timeout: () => void };
  /** Draining: answer the request in flight with `Connection: close`, then close. */
  closing = false;
  /** `keep-alive: timeout=N` for responses that keep the connection. */
  readonly keepAliveField: string;

  /** `first`: bytes already read from the socket (protocol detection's), parsed before anything it reads next. */
  constructor(socket: H1Socket, opts: H1ServerOptions, onRequest: (req: H1Request, res: H1Response) => void, first?: Buffer) {
    this.socket = socket;
    this.#opts = opts;
    this.#keepAliveMs = Math.min(opts.keepAliveTimeoutMs, MAX_TIMER_MS);
    this.#onRequest = onRequest;
    this.keepAliveField = `keep-alive: timeout=${Math.floor(opts.keepAliveTimeoutMs / 1000)}\r\n`;
    this.#listeners = {
      data: (chunk: Buffer) => this.#onData(chunk),
      close: () => this.#onClose(),
      // A client that half-closes between requests is done; mid-request it has reset the stream.
      // Not once the response side is done (a `Connection: close` answer ended it): ending it again
      // only makes Node build an ERR_STREAM_ALREADY_FINISHED, stack trace and all, per connection.
      end: () => {
        if (!this.#req && !socket.writableEnded) socket.end();
      },
      timeout: () => socket.destroy(),
    };
    socket.on('data', this.#listeners.data);
    socket.on('error', noop);
    socket.on('close', this.#listeners.close);
    socket.on('end', this.#listeners.end);
    socket.on('timeout', this.#listeners.timeout);
    this.#idle();
    if (first !== undefined) this.#onData(first);
  }

  /** Lets go of the socket: its CONNECT or upgrade handler owns it, with the bytes read past the head. */
  #handOver(req: H1Request, rest: Buffer): void {
    this.#gone = true;
    this.#handed = true;
    clearTimeout(this.#headTimer);
    this.#stopIdle();
    const socket = this.socket;
    socket.pause();
    socket.setTimeout?.(0);
    socket.removeListener('data', this.#listeners.data);
    socket.removeListener('close', this.#listeners.close);
    socket.removeListener('end', this.#listeners.end);
    socket.removeListener('timeout', this.#listeners.timeout);
    // As Node's server does: the next reader's on('data') or pipe() starts the flow again.
    (socket as unknown as { readableFlowing: boolean | null }).readableFlowing = null;
    const handler = req.method === 'CONNECT' ? this.#opts.onConnect : this.#opts.onUpgrade;
    try {
      handler?.(req, socket, rest);
    } catch {
      socket.destroy();
    }
  }

  get idle(): boolean {
    return this.#req === null && this.#stash.length === 0;
  }

  /** Close now if idle, else after the response in flight. A handed-over socket is its new owner's. */
  drain(): void {
    this.closing = true;
    if (this.#handed) return;
    if (this.idle) this.#closeSoon();
  }

  /**
   * No more requests: FIN once written out, the client's further bytes read and dropped until it closes
   * too, as Envoy's delayed close: a client that stops reading the response, or never closes, is cut
   * after 1 s without write progress (delayed-close.ts).
   */
  #closeSoon(text?: string): void {
    this.#gone = true;
    closeDelayed(this.socket, this.#opts.timers ?? realTimers, text);
  }

  /** Idle between requests: the keep-alive timeout runs from now (the socket's own timeout when it has none). */
  #idle(): void {
    const ms = this.#keepAliveMs;
    // A socket without timeouts (a stand-in duplex) had none before either; 0 disables it.
    if (ms <= 0 || typeof this.socket.setTimeout !== 'function') return;
    this.#idleArmed = true;
    this.#idleQueued = queuedBytes(this.socket);
    if (this.#idleTimer === undefined) this.#idleTimer = setTimeout(this.#onIdleTimeout, ms).unref();
    else this.#idleTimer.refresh();
  }

  /** Bytes of an unfinished head while idle: activity, as a socket timeout counts every read. */
  #touch(): void {
    if (this.#idleArmed) this.#idleTimer?.refresh();
  }

  #stopIdle(): void {
    this.#idleArmed = false;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  /**
   * At the timeout, a response tail still queued for a slow reader that drained since the last look
   * re-arms the timer (as the old socket timeout, which each completed write refreshed); output that
   * did not move, or none, closes the connection.
   */
  readonly #onIdleTimeout = (): void => {
    if (!this.#idleArmed) return;
    const queued = queuedBytes(this.socket);
    if (queued > 0 && queued < this.#idleQueued) {
      this.#idleQueued = queued;
      // A new timer, not refresh(): this one has fired (and a mocked clock's refresh does not re-arm).
      this.#idleTimer = setTimeout(this.#onIdleTimeout, this.#keepAliveMs).unref();
      return;
    }
    this.socket.destroy();
  };

  #onData(chunk: Buffer): void {
    if (this.#gone) return;
    const stash = this.#stash;
    if (stash.length === 0) {
      this.#consume(chunk);
      return;
    }
    if (!this.#completes(chunk)) {
      stash.add(chunk);
      if (this.#stashKind === HEAD) this.#touch();
      if (this.#stashKind === PIPELINED) {
        if (stash.length > this.#opts.maxHeadBytes) this.socket.pause();
      } else if (stash.length > this.#opts.maxHeadBytes) {
        if (this.#stashKind === HEAD) this.#refuse(new HeadError(431, 'request head too large'));
        else this.#bodyError(this.#req as H1Request, 'chunk line too long');
      }
      return;
    }
    this.#stashKind = NOTHING;
    this.#consume(stash.take(chunk));
  }

  /** Whether `chunk` can finish what the stash holds (a head's blank line, a chunk line's LF); pipelined bytes wait for the response. */
  #completes(chunk: Buffer): boolean {
    if (this.#stashKind === PIPELINED) return this.#req === null;
    if (this.#stashKind === CHUNK_LINE) return chunk.indexOf(0x0a) >= 0;
    return this.#stash.endsHead(chunk);
  }

  #hold(buf: Buffer, kind: number): void {
    this.#stash.hold(buf);
    this.#stashKind = kind;
  }

  /** Parses heads and body bytes from `buf` while a request can take them. */
  #consume(input: Buffer): void {
    let buf = input;
    while (buf.length > 0 && !this.#gone) {
      const req = this.#req;
      if (req !== null) {
        if (req.complete) {
          // Pipelined bytes wait for the response in flight.
          this.#hold(buf, PIPELINED);
          if (buf.length > this.#opts.maxHeadBytes) this.socket.pause();
          return;
        }
        buf = this.#body(req, buf);
        continue;
      }
      // The next request waits while answers already written wait for the client (ISTIO-SECURITY-2020-003,
      // CVE-2020-8661): one that pipelines and never reads would otherwise have every answer held here.
      if (this.socket.writableNeedDrain) {
        this.#awaitDrain(buf);
        return;
      }
      const end = buf.indexOf('\r\n\r\n', 0, 'latin1');
      if (end < 0) {
        if (buf.length > this.#opts.maxHeadBytes) this.#refuse(new HeadError(431, 'request head too large'));
        else if (buf.indexOf('\n\n', 0, 'latin1') >= 0) this.#refuse(new HeadError(400, 'bare LF line ends'));
        else {
          this.#hold(buf, HEAD);
          this.#touch();
          this.#headTimer ??= setTimeout(() => this.#refuse(new HeadError(408, 'request head timeout')), this.#opts.headersTimeoutMs).unref();
        }
        return;
      }
      if (end + 4 > this.#opts.maxHeadBytes) {
        this.#refuse(new HeadError(431, 'request head too large'));
        return;
      }
      clearTimeout(this.#headTimer);
      this.#headTimer = undefined;
      let res: H1Response | H1Request;
      try {
        res = this.#head(buf.toString('latin1', 0, end));
      } catch (err) {
        this.#refuse(err instanceof HeadError ? err : new HeadError(400, String(err)));
        return;
      }
      // A read that held just the head (a request without a body, the common case) leaves nothing: no new view.
      buf = end + 4 === buf.length ? EMPTY : buf.subarray(end + 4);
      if (res instanceof H1Request) {
        this.#handOver(res, buf);
        return;
      }
      try {
        this.#onRequest(this.#req as H1Request, res);
      } catch {
        // A handler that throws ends this connection, never the process.
        this.socket.destroy();
        return;
      }
    }
  }

  /**
   * Holds `buf` (the next requests) and stops reading until the socket's output drains, as Envoy's
   * HTTP/1.1 codec dispatches no further pipelined request while its output is above the high-water
   * mark: what waits for a client that does not read is one answer past that mark, not all of them.
   */
  #awaitDrain(buf: Buffer): void {
    this.#hold(buf, PIPELINED);
    this.socket.pause();
    if (this.#drainWait) return;
    this.#drainWait = true;
    this.socket.once('drain', () => {
      this.#drainWait = false;
      if (this.#gone || this.#req !== null) return;
      this.socket.resume();
      if (this.#stash.length > 0) {
        this.#stashKind = NOTHING;
        this.#consume(this.#stash.take());
      }
    });
  }

  /** Parses a request head and makes it current; returns its response, or a CONNECT/upgrade request to hand over. */
  #head(text: string): H1Response | H1Request {
    // Lines are found by index in the head's one string: no array of lines, and one slice per value.
    let eol = text.indexOf('\r\n');
    const line = eol < 0 ? text : text.slice(0, eol);
    const sp1 = line.indexOf(' ');
    const sp2 = line.indexOf(' ', sp1 + 1);
    if (sp1 <= 0 || sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0) throw new HeadError(400, 'malformed request line');
    const method = line.slice(0, sp1);
    const url = line.slice(sp1 + 1, sp2);
    const version = line.slice(sp2 + 1);
    if (!H1_METHODS.has(method) || url === '' || BAD_TARGET.test(url)) throw new HeadError(400, 'malformed request line');
    if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0') throw new HeadError(version.startsWith('HTTP/') ? 505 : 400, 'unsupported HTTP version');
    const rawHeaders: string[] = [];
    const headers: Record<string, string | string[]> = {};
    while (eol >= 0) {
      const start = eol + 2;
      eol = text.indexOf('\r\n', start);
      const stop = eol < 0 ? text.length : eol;
      const colon = text.indexOf(':', start);
      if (colon <= start || colon >= stop) throw new HeadError(400, 'malformed header line');
      const lower = fieldName(text.slice(start, colon));
      if (lower === undefined) throw new HeadError(400, 'invalid header name');
      // Only spaces and tabs trimmed (JS trim() would also eat \v, \f, \xa0). What is trimmed holds
      // nothing BAD_VALUE matches, so testing the trimmed value tests the whole field value.
      let a = colon + 1;
      let b = stop;
      while (a < b && (text.charCodeAt(a) === 0x20 || text.charCodeAt(a) === 0x09)) a++;
      while (b > a && (text.charCodeAt(b - 1) === 0x20 || text.charCodeAt(b - 1) === 0x09)) b--;
      const value = text.slice(a, b);
      if (BAD_VALUE.test(value)) throw new HeadError(400, 'invalid header value');
      // The name as the map keys it: the one string every request uses, whose hash V8 keeps (Envoy's
      // HTTP/1.1 codec lower-cases names too), not a slice of this head to hash again downstream.
      rawHeaders.push(lower, value);
      const had = headers[lower];
      if (had === undefined) headers[lower] = lower === 'set-cookie' ? [value] : value;
      // A name Object.prototype has (`__proto__`, `constructor`, `toString`…) reads as the inherited
      // value the first time: an own field then. Checked only here, on a repeat or such a name, so the
      // map stays a plain object (a null-prototype one is a dictionary from the start, slower to fill).
      else if (!Object.hasOwn(headers, lower)) ownField(headers, lower, value);
      else if (typeof had === 'object') had.push(value);
      else if (lower === 'content-length') {
        if (had !== value) throw new HeadError(400, 'conflicting content-length');
      } else headers[lower] = `${had}, ${value}`;
    }
    const httpVersion = version === 'HTTP/1.1' ? '1.1' : '1.0';
    if (httpVersion === '1.1' && headers['host'] === undefined) throw new HeadError(400, 'missing host');
    const te = headers['transfer-encoding'];
    const cl = headers['content-length'];
    let framing = NONE;
    if (te !== undefined) {
      if (cl !== undefined) throw new HeadError(400, 'content-length with transfer-encoding');
      if ((te as string).toLowerCase() !== 'chunked') throw new HeadError(501, 'unsupported transfer-encoding');
      framing = CHUNKED;
      if (this.#chunks === null) this.#chunks = new ChunkedDecoder(this.#opts.maxHeadBytes, false);
      else this.#chunks.reset();
    } else if (cl !== undefined) {
      if (!DIGITS.test(cl as string)) throw new HeadError(400, 'invalid content-length');
      this.#remaining = Number(cl);
      if (this.#remaining > 0) framing = LENGTH;
    }
    let conn = headers['connection'];
    let upgrade = method !== 'CONNECT' && headers['upgrade'] !== undefined && conn !== undefined && asksUpgrade(conn as string);
    // `Upgrade: h2c` (curl --http2 on http://): served as the HTTP/1.1 request it also is, its upgrade
    // fields dropped, as Envoy's codec ignores h2c upgrades.
    if (upgrade && (headers['upgrade'] as string).toLowerCase() === 'h2c') {
      conn = dropH2cUpgrade(rawHeaders, headers);
      upgrade = false;
    }
    if (method === 'CONNECT' || upgrade) {
      if (method === 'CONNECT' ? !this.#opts.onConnect : !this.#opts.onUpgrade) throw new HeadError(method === 'CONNECT' ? 405 : 400, 'CONNECT and Upgrade are not served here');
      return new H1Request(method, url, httpVersion, rawHeaders, headers, this.socket, null);
    }
    this.#framing = framing;
    const socket = this.socket;
    const body = framing === NONE ? null : new Readable({ read: () => socket.resume() });
    // The body fails when the client goes or sends a bad chunk, maybe before anyone reads it (an async
    // filter, a wait for a connection): never an unhandled 'error'.
    body?.on('error', noop);
    const req = new H1Request(method, url, httpVersion, rawHeaders, headers, socket, body);
    req.headBytes = text.length + 4;
    const res = new H1Response(this, req);
    // An HTTP/1.0 request with Transfer-Encoding has faulty framing (RFC 9112 §6.1): served as read
    // (chunked), then the connection closes, whatever its Connection says, so nothing after it is parsed.
    if (!persists(httpVersion === '1.1', conn as string | undefined) || (framing === CHUNKED && httpVersion === '1.0')) res.closeAfter = true;
    this.#req = req;
    this.#res = res;
    // Busy: no keep-alive timeout until the response is out (the timer, if it fires meanwhile, does nothing).
    this.#idleArmed = false;
    if (httpVersion === '1.1' && body !== null && (headers['expect'] as string | undefined)?.toLowerCase() === '100-continue') {
      socket.write(CONTINUE, 'latin1');
      // Envoy's codec meters the interim head as wire bytes sent (istio_response_bytes); %RESPONSE_CODE% stays the final one.
      res.framingBytes += CONTINUE.length;
    }
    return res;
  }

  /** Feeds body bytes to the request; returns the bytes after its end. */
  #body(req: H1Request, buf: Buffer): Buffer {
    const body = req.body as Readable;
    if (this.#framing === LENGTH) {
      const n = Math.min(this.#remaining, buf.length);
      this.#remaining -= n;
      this.#push(body, n === buf.length ? buf : buf.subarray(0, n));
      if (this.#remaining === 0) this.#bodyDone(req, body);
      return buf.subarray(n);
    }
    let failed = false;
    let data = 0;
    const chunks = this.#chunks as ChunkedDecoder;
    const used = chunks.decode(buf, {
      data: (chunk) => {
        data += chunk.length;
        this.#push(body, chunk);
      },
      end: (lines) => {
        for (const l of lines) {
          const colon = l.indexOf(':');
          const name = colon > 0 ? l.slice(0, colon) : '';
          const raw = l.slice(colon + 1);
          const value = ows(raw);
          if (!TOKEN.test(name) || BAD_VALUE.test(raw)) {
            failed = true;
            this.#bodyError(req, 'malformed trailer');
            return;
          }
          if (req.trailers === NO_TRAILERS) req.trailers = {};
          ownField(req.trailers, name.toLowerCase(), value);
        }
        this.#bodyDone(req, body);
      },
      error: (message) => {
        failed = true;
        this.#bodyError(req, message);
      },
    });
    if (failed) return Buffer.alloc(0);
    // What the wire carried besides the data (Istio's request bytes count it; Envoy's codec meters every byte).
    req.framingBytes += used - data;
    if (chunks.needMore) {
      this.#hold(buf.subarray(used), CHUNK_LINE);
      return Buffer.alloc(0);
    }
    return buf.subarray(used);
  }

  #push(body: Readable, chunk: Buffer): void {
    if (chunk.length > 0 && !body.push(chunk)) this.socket.pause();
  }

  #bodyDone(req: H1Request, body: Readable): void {
    req.complete = true;
    body.push(null);
  }

  /** A malformed request body: the stream fails and the connection closes. */
  #bodyError(req: H1Request, message: string): void {
    // Nothing more is parsed: a read the socket already holds may still be emitted after destroy(),
    // and the failed decoder, fed it, would use none of it and spin.
    this.#gone = true;
    req.body?.destroy(new Error(message));
    this.socket.destroy();
  }

  /** A head that cannot be served: a short answer, then the connection closes. */
  #refuse(err: HeadError): void {
    clearTimeout(this.#headTimer);
    this.#gone = true;
    this.#stash.clear();
    if (this.#req === null && this.socket.writable) {
      const reason = STATUS_CODES[err.status] ?? 'Bad Request';
      this.#closeSoon(`HTTP/1.1 ${err.status} ${reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    } else this.socket.destroy();
  }

  /** The response has been written in full. */
  responded(res: H1Response): void {
    if (this.#res !== res) return;
    const req = this.#req as H1Request;
    this.#req = null;
    this.#res = null;
    // Its 'close' listeners run once this turn's code is done; one queued response at a time needs no closure.
    if (this.#toClose === null) {
      this.#toClose = res;
      queueMicrotask(this.#closeQueued);
    } else queueMicrotask(() => res.closed());
    // A body the handler never read keeps the connection from the next request: close instead.
    if (res.closeAfter || !req.complete || this.closing) {
      // A body the client is still sending is not read: it ends here (mirrors waiting on it too).
      if (!req.complete) req.body?.destroy(new Error('request answered before its body arrived'));
      this.#closeSoon();
      return;
    }
    this.#idle();
    if (this.socket.isPaused()) this.socket.resume();
    if (this.#stash.length > 0) {
      this.#stashKind = NOTHING;
      this.#consume(this.#stash.take());
    }
  }

  #onClose(): void {
    this.#gone = true;
    clearTimeout(this.#headTimer);
    this.#stopIdle();
    const req = this.#req;
    const res = this.#res;
    this.#req = null;
    this.#res = null;
    if (req && !req.complete) req.body?.destroy(new Error('client closed the connection'));
    res?.closed();
  }
}
