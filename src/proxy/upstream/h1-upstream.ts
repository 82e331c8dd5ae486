// HTTP/1.1 upstream of one endpoint (keep-alive, connect timeout, bounded connections): plain HTTP goes
// through the raw-socket pool of h1-client.ts; TLS origination and the rare CONNECT through undici.
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import type * as Undici from 'undici';
import type { buildConnector, Dispatcher, Pool } from 'undici';
import { realTimers, type Timers } from '../http/router.ts';
import { H1Pool } from './h1-client.ts';
import { needsRequestTrailers, TrailerRequester } from './h1-trailer-request.ts';
import type { OutgoingHeaders, Upstream, UpstreamExchange, UpstreamHead, UpstreamSink } from './upstream.ts';
import { connectTimeout, UpstreamError } from './upstream.ts';

/**
 * undici, required when a cluster that originates TLS is configured (preloadUndici), else on the first
 * use. Most sidecars never need it, and loading it costs a process about 25 MB resident (measured: a
 * bare Node 41 MB, with undici imported 69 MB).
 */
let undiciModule: typeof Undici | undefined;
const undici = (): typeof Undici => (undiciModule ??= createRequire(import.meta.url)('undici') as typeof Undici);

/**
 * Loads undici now, off any request: a cluster that originates TLS calls this when it is configured, so
 * its first request does not wait for the load (about 120 ms here) with every other request behind it.
 */
export function preloadUndici(): void {
  undici();
}

/**
 * undici's own codes that are a socket failing: connecting timed out, or the socket closed or errored. Its
 * other UND_ERR_* codes are about the request, or the request or pool being aborted or destroyed
 * (UND_ERR_ABORTED, UND_ERR_DESTROYED, UND_ERR_CLOSED), never a connect failure.
 */
const undiciSocketCodes = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET']);

/**
 * An undici error as the router reads it. Before the request started on a connected socket, every socket or
 * TLS error is a connect failure: refused, unreachable, a TLS handshake refused, or the connection reset
 * during the handshake (Envoy: a connection that fails before it is connected is a pool failure, UF,
 * upstream_cx_connect_fail, retried by connect-failure). Once it started, its head may be out, so whatever
 * the code it is a reset (or a protocol error), never a connect failure a retry could take as "nothing sent".
 * A protocol error (HPE_*, UND_ERR_INFO) stays one, and an abort (the request or pool destroyed) a reset.
 * So is the request body's stream failing (ERR_STREAM_*). A system error (ECONNRESET, EPIPE, ...), a TLS
 * error or an origination refused before the start: connect.
 */
function classify(err: Error & { code?: string }, started: boolean): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const code = err.code ?? '';
  if (code.startsWith('HPE_') || code === 'UND_ERR_INFO') return new UpstreamError('protocol', err.message, err);
  if (started || (code.startsWith('UND_ERR_') && !undiciSocketCodes.has(code)) || code.startsWith('ERR_STREAM_')) return new UpstreamError('reset', `${code || 'reset'}: ${err.message}`, err);
  return new UpstreamError('connect', `${code || 'tls'}: ${err.message}`, err);
}

function flatten(h: Record<string, string | string[] | undefined>): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  // for-in, not Object.entries: no entry array per header on every response.
  for (const k in h) {
    const v = h[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

export class H1Upstream implements Upstream {
  /** Requests the cluster's connection gate runs here (Upstream.gated). */
  gated = 0;
  /** Plain HTTP (no origination). */
  #fast: H1Pool | undefined;
  #pool: Pool | undefined;
  readonly #makePool: () => Pool;
  #origin: string;
  /**
   * The SNI the origination names (its `sni`, or the request host it was made for): undici would
   * otherwise take each request's Host, overriding the rule's `sni`.
   */
  readonly #servername: string | undefined;
  #open = 0;
  /** Made on the first request that carries trailers. */
  #trailered: TrailerRequester | undefined;
  #trailerOpts: ConstructorParameters<typeof TrailerRequester>[1] | undefined;

  constructor(
    origin: string,
    opts: {
      connectTimeoutMs: number;
      maxConnections: number;
      idleTimeoutMs?: number;
      maxRequestsPerConnection?: number;
      /** TCP keep-alive: first probe after this many ms (0 = OS default); absent = undici's default. */
      tcpKeepaliveMs?: number;
      /**
       * TLS origination: the options for every connect, or why none can be made (each connect then fails);
       * or read at each connect (a rotated secret or file applies to the next connection), with `servername`.
       */
      tls?: ConnectionOptions | string | (() => ConnectionOptions | string);
      /** The SNI of options read per connect. */
      servername?: string | undefined;
      /** Each connection made (the cluster's `upstream_cx_total`). */
      onConnected?: () => void;
      /** TLS origination: its last connection is gone (closed, or failed to connect); requests the caller's gate still runs are its to check. */
      onIdle?: () => void;
      /** The clock the connect timeout runs on (the proxy's); the real one when absent. */
      timers?: Timers;
    },
  ) {
    this.#origin = origin;
    this.#servername = typeof opts.tls === 'object' ? opts.tls.servername : opts.servername;
    // Envoy's idle_timeout closes a connection with no request for that long (0 disables: keep a day).
    const idle = opts.idleTimeoutMs === undefined ? 60_000 : opts.idleTimeoutMs || 86_400_000;
    const keepalive = opts.tcpKeepaliveMs !== undefined ? { keepAlive: true, keepAliveInitialDelay: opts.tcpKeepaliveMs } : {};
    if (opts.tls === undefined) {
      const url = new URL(origin);
      this.#fast = new H1Pool({
        host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: Number(url.port) || 80,
        connectTimeoutMs: opts.connectTimeoutMs,
        maxConnections: opts.maxConnections,
        idleTimeoutMs: opts.idleTimeoutMs ?? 60_000,
        maxRequestsPerConnection: opts.maxRequestsPerConnection ?? 0,
        ...(opts.tcpKeepaliveMs !== undefined ? { tcpKeepaliveMs: opts.tcpKeepaliveMs } : {}),
        ...(opts.onConnected ? { onConnected: opts.onConnected } : {}),
        ...(opts.timers ? { timers: opts.timers } : {}),
      });
    }
    this.#makePool = () => this.#undici(origin, opts, idle, keepalive);
    // A refused origination (string) keeps request trailers on the pool, which fails every connect.
    // Its onIdle is the upstream's: the cluster drops it only once connections() (undici's and these) is 0.
    if (typeof opts.tls !== 'string') this.#trailerOpts = { connectTimeoutMs: opts.connectTimeoutMs, maxConnections: opts.maxConnections, idleTimeoutMs: idle, ...(opts.tls ? { tls: opts.tls } : {}), ...(opts.timers ? { timers: opts.timers } : {}), ...(opts.onIdle ? { onIdle: opts.onIdle } : {}) };
  }

  #undici(origin: string, opts: ConstructorParameters<typeof H1Upstream>[1], idle: number, keepalive: object): Pool {
    const { buildConnector, Pool } = undici();
    // undici's own connect timeout (0: none) runs on the real clock; the connector's runs on the proxy's.
    const tls = opts.tls;
    const build = (t: ConnectionOptions | undefined) => timedConnector(buildConnector({ ...t, ...keepalive, timeout: 0 } as buildConnector.BuildOptions), opts.connectTimeoutMs, opts.timers ?? realTimers);
    const connect = typeof tls === 'string' ? refuse(tls) : typeof tls === 'function' ? perConnect(tls, build) : build(tls);
    const pool = new Pool(origin, {
      connections: opts.maxConnections,
      keepAliveTimeout: idle,
      keepAliveMaxTimeout: idle,
      ...(opts.maxRequestsPerConnection ? { maxRequestsPerClient: opts.maxRequestsPerConnection } : {}),
      headersTimeout: 0,
      bodyTimeout: 0,
      pipelining: 1,
      connect,
    });
    pool.on('connect', () => {
      this.#open++;
      opts.onConnected?.();
    });
    const onIdle = opts.onIdle;
    // After what the connection's end set off (a failed request's retry may dispatch here again).
    const check = (): void => {
      if (this.#open === 0 && !pool.destroyed) onIdle?.();
    };
    pool.on('disconnect', () => {
      this.#open--;
      if (onIdle) queueMicrotask(check);
    });
    pool.on('connectionError', () => {
      if (onIdle) queueMicrotask(check);
    });
    return pool;
  }

  connections(): number {
    return (this.#fast?.connections() ?? 0) + this.#open + (this.#trailered?.connections() ?? 0);
  }

  request(head: UpstreamHead, body: Readable | null, sink: UpstreamSink): UpstreamExchange {
    if (this.#fast && head.method !== 'CONNECT') return this.#fast.request(head, body, sink);
    if (body && this.#trailerOpts && needsRequestTrailers(head, body)) {
      this.#trailered ??= new TrailerRequester(this.#origin, this.#trailerOpts);
      return this.#trailered.request(head, body, sink);
    }
    let controller: Dispatcher.DispatchController | undefined;
    let aborted = false;
    let started = false;
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        started = true;
        // undici starts a request on a connected socket: the pool is ready.
        sink.onPoolReady?.();
        if (aborted) c.abort(new Error('aborted'));
      },
      onResponseStart(c, status, headers) {
        sink.onHead(status, flatten(headers));
        void c;
      },
      onResponseData(c, chunk) {
        if (!sink.onData(chunk)) c.pause();
      },
      onResponseEnd(_c, trailers) {
        sink.onEnd(flatten(trailers));
      },
      onResponseError(_c, err) {
        if (!aborted) sink.onError(classify(err, started), started);
      },
    };
    const headers: Record<string, string | string[]> = { ...head.headers, host: head.authority };
    this.#pool ??= this.#makePool();
    const options: Dispatcher.DispatchOptions = {
      origin: undefined as unknown as string,
      method: head.method as Dispatcher.HttpMethod,
      path: head.path,
      headers,
      body: body ?? null,
      // Never reuse a connection for an upgraded or uncertain exchange.
      reset: head.method === 'CONNECT',
    };
    // undici's Request reads `servername` (absent from its types).
    this.#pool.dispatch(this.#servername ? Object.assign(options, { servername: this.#servername }) : options, handler);
    return {
      resume: () => controller?.resume(),
      abort: () => {
        aborted = true;
        controller?.abort(new Error('aborted'));
      },
    };
  }

  async close(): Promise<void> {
    this.#trailered?.close();
    await Promise.all([this.#fast?.close(), this.#pool?.destroy()]);
  }
}

/**
 * `connect` with the cluster's connect timeout on `timers`: the TCP connect and, in TLS, its handshake
 * (undici calls back once the socket is connected, or secure). Past it the socket is destroyed, which
 * undici reports to the request as a connect failure (UF).
 */
function timedConnector(connect: buildConnector.connector, timeoutMs: number, timers: Timers): buildConnector.connector {
  return (options, callback) => {
    let timer: unknown;
    let called = false;
    const socket = (connect as (o: buildConnector.Options, cb: buildConnector.Callback) => Socket | undefined)(options, (...args) => {
      called = true;
      timers.clear(timer);
      callback(...args);
    });
    if (!called && socket) timer = timers.set(() => socket.destroy(connectTimeout(timeoutMs)), timeoutMs);
    return socket;
  };
}

/**
 * A connector reading its TLS options at each connect. Other credentials get a connector of their own,
 * and so a TLS session cache of their own, as Envoy's new SSL context on a secret update: a session
 * verified under the old trust is never resumed under the new one. Connections made before keep theirs.
 */
function perConnect(read: () => ConnectionOptions | string, build: (t: ConnectionOptions) => buildConnector.connector): buildConnector.connector {
  let last: { tls: ConnectionOptions; connect: buildConnector.connector } | undefined;
  return (options, callback) => {
    const t = read();
    if (typeof t === 'string') return refuse(t)(options, callback);
    if (!last || last.tls.ca !== t.ca || last.tls.cert !== t.cert || last.tls.key !== t.key) last = { tls: t, connect: build(t) };
    return last.connect(options, callback);
  };
}

/** A connector that fails every connect with the reason TLS cannot be set up (a secret not yet delivered). */
function refuse(reason: string): buildConnector.connector {
  return (_opts, callback) => {
    callback(Object.assign(new Error(`TLS origination: ${reason}`), { originationRefused: true }), null);
  };
}
