// An HTTP/1.1 upstream request that ends in chunked trailers. undici cannot send request trailers, so a
// request whose downstream announced them (`Trailer:`) goes through Node's client on its own agent.
import type { Agent, IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import { realTimers, type Timers } from '../http/router.ts';
import { http } from '../node-http.ts';
import type { OutgoingHeaders, UpstreamExchange, UpstreamHead, UpstreamSink } from './upstream.ts';
import { connectTimeout, UpstreamError } from './upstream.ts';

/** True when the request should travel through this path rather than the undici pool. */
export function needsRequestTrailers(head: UpstreamHead, body: Readable | null): boolean {
  return body !== null && head.trailers !== undefined && head.headers['trailer'] !== undefined;
}

function flatten(h: IncomingHttpHeaders | NodeJS.Dict<string>): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * The request's fields for a chunked body: a downstream's Content-Length (an HTTP/2 client may send one
 * beside its trailers) is dropped, as the pooled client drops it (serializeHead), never sent beside
 * `transfer-encoding: chunked` (RFC 9112 §6.2: a sender MUST NOT send both; an origin would have to pick one).
 */
function chunkedHeaders(head: UpstreamHead): OutgoingHttpHeaders {
  const out = Object.create(null) as OutgoingHttpHeaders;
  const h = head.headers;
  for (const k in h) {
    if (k === 'content-length' || k === 'transfer-encoding' || k === 'host') continue;
    out[k] = h[k];
  }
  out['host'] = head.authority;
  out['transfer-encoding'] = 'chunked';
  return out;
}

/** A request with no TLS origination to go in (a secret not yet delivered): a connect failure, as the pool's. */
function refused(reason: string, sink: UpstreamSink): UpstreamExchange {
  let aborted = false;
  queueMicrotask(() => {
    if (!aborted) sink.onError(new UpstreamError('connect', `tls: TLS origination: ${reason}`));
  });
  return {
    resume: () => {},
    abort: () => {
      aborted = true;
    },
  };
}

export class TrailerRequester {
  readonly #origin: URL;
  readonly #agent: Agent;
  /** TLS origination: fixed, or read per request (a rotated credential applies to the next connection). */
  readonly #tls: ConnectionOptions | (() => ConnectionOptions | string) | undefined;
  readonly #connectTimeoutMs: number;
  readonly #timers: Timers;
  /** The agent's sockets seen: each tells onIdle when it closes. */
  readonly #watched = new WeakSet<Socket>();
  /** A free socket's idle_timeout timer. */
  readonly #idleTimers = new WeakMap<Socket, unknown>();
  readonly #onIdle: (() => void) | undefined;
  #closed = false;

  /** `idleTimeoutMs`: the cluster's idle_timeout, after which a kept-alive socket with no request closes (as undici's keepAliveTimeout). */
  constructor(origin: string, opts: { connectTimeoutMs: number; maxConnections: number; idleTimeoutMs?: number; tls?: ConnectionOptions | (() => ConnectionOptions | string); timers?: Timers; onIdle?: () => void }) {
    this.#origin = new URL(origin);
    this.#tls = opts.tls;
    this.#connectTimeoutMs = opts.connectTimeoutMs;
    this.#timers = opts.timers ?? realTimers;
    this.#onIdle = opts.onIdle;
    const agentOpts = { keepAlive: true, maxSockets: opts.maxConnections };
    // Options read per request go on each request: the agent keys its sockets and TLS sessions by them, so
    // another credential never takes a socket or resumes a session made under the one before.
    this.#agent = opts.tls ? new https.Agent({ ...agentOpts, ...(typeof opts.tls === 'object' ? opts.tls : {}) }) : new http.Agent(agentOpts);
    // Envoy's idle_timeout: a kept-alive socket back in the free list with no request for that long is
    // closed (on the proxy's timers), and its close lets the cluster drop an idle pool. A socket a request
    // takes again stops its timer (#watch).
    const idleMs = opts.idleTimeoutMs;
    if (idleMs) {
      this.#agent.on('free', (socket: Socket) => {
        const armed = this.#idleTimers.has(socket);
        this.#timers.clear(this.#idleTimers.get(socket));
        this.#idleTimers.set(
          socket,
          this.#timers.set(() => socket.destroy(), idleMs),
        );
        // A socket that closes first (the upstream, close()) takes its timer with it.
        if (!armed) socket.once('close', () => this.#timers.clear(this.#idleTimers.get(socket)));
      });
    }
  }

  connections(): number {
    let n = 0;
    for (const list of [...Object.values(this.#agent.sockets), ...Object.values(this.#agent.freeSockets)]) n += list?.length ?? 0;
    return n;
  }

  request(head: UpstreamHead, body: Readable, sink: UpstreamSink): UpstreamExchange {
    const tlsNow = typeof this.#tls === 'function' ? this.#tls() : undefined;
    if (typeof tlsNow === 'string') return refused(tlsNow, sink);
    const headers = chunkedHeaders(head);
    const mod = this.#tls ? https : http;
    let done = false;
    let gotHead = false;
    let connected = false;
    const timers = this.#timers;
    /** The connect timeout (TCP connect and TLS handshake), armed once the request has a socket that is not yet ready. */
    let connectTimer: unknown;
    const fail = (err: Error & { code?: string }) => {
      timers.clear(connectTimer);
      if (done) return;
      done = true;
      const failure = err instanceof UpstreamError ? err.failure : !connected ? 'connect' : err.code?.startsWith('HPE_') ? 'protocol' : 'reset';
      sink.onError(err instanceof UpstreamError ? err : new UpstreamError(failure, `${err.code ?? 'error'}: ${err.message}`, err));
    };
    const req = mod.request({
      ...tlsNow,
      agent: this.#agent,
      host: this.#origin.hostname,
      port: this.#origin.port,
      method: head.method,
      path: head.path,
      headers,
    });
    // Connected (a kept-alive socket, or once it connects): the pool is ready (Envoy's onPoolReady). A new
    // TLS connection is ready once its handshake is done, as Envoy's SslSocket raises Connected only then:
    // the handshake is the connect timeout's, not the try's per-try timeout's.
    const ready = (): void => {
      connected = true;
      timers.clear(connectTimer);
      if (!done) sink.onPoolReady?.();
    };
    const timeoutMs = this.#connectTimeoutMs;
    const arm = (): void => {
      connectTimer = timers.set(() => req.destroy(connectTimeout(timeoutMs)), timeoutMs);
    };
    // A request waiting for a free socket of the agent is not connecting yet: the timeout starts with its socket.
    req.on('socket', (s) => {
      this.#timers.clear(this.#idleTimers.get(s));
      this.#watch(s);
      if (this.#tls && !req.reusedSocket) {
        arm();
        s.once('secureConnect', ready);
      } else if (!s.connecting) ready();
      else {
        arm();
        s.once('connect', ready);
      }
    });
    req.on('error', fail);
    let response: IncomingMessage | undefined;
    req.on('response', (res) => {
      if (done) return void res.destroy();
      response = res;
      gotHead = true;
      sink.onHead(res.statusCode ?? 502, flatten(res.headers));
      res.on('data', (c: Buffer) => {
        if (!sink.onData(c)) res.pause();
      });
      res.on('end', () => {
        if (done) return;
        done = true;
        sink.onEnd(flatten(res.trailers));
      });
      res.on('error', fail);
      res.on('close', () => {
        if (!res.complete) fail(new UpstreamError('reset', 'upstream closed mid-response'));
      });
    });
    body.on('end', () => {
      const t = head.trailers?.() ?? {};
      if (Object.keys(t).length) req.addTrailers(t);
    });
    body.on('error', (err) => req.destroy(err));
    body.pipe(req);
    return {
      resume: () => {
        if (gotHead) response?.resume();
      },
      abort: () => {
        done = true;
        timers.clear(connectTimer);
        req.destroy();
      },
    };
  }

  /**
   * Its last socket closed (or failed to connect): onIdle, after the agent let go of it and after what the
   * close set off (a failed request's retry may take a socket here again).
   */
  #watch(s: Socket): void {
    const onIdle = this.#onIdle;
    if (!onIdle || this.#watched.has(s)) return;
    this.#watched.add(s);
    s.once('close', () =>
      queueMicrotask(() => {
        if (!this.#closed && this.connections() === 0) onIdle();
      }),
    );
  }

  close(): void {
    this.#closed = true;
    this.#agent.destroy();
  }
}
