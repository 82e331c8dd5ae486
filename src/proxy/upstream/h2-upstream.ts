// HTTP/2 upstream for one endpoint (h2c clusters, gRPC, the mesh tunnel): Envoy's HTTP/2 connection
// pool. A stream goes on a session with room under the peer's SETTINGS_MAX_CONCURRENT_STREAMS; when
// every session is full another is opened (up to max_connections), and requests wait meanwhile.
import type { Duplex, Readable } from 'node:stream';
import type { SecureClientSessionOptions } from 'node:http2';
import { realTimers, type Timers } from '../http/router.ts';
import { H2Connection } from './h2-connection.ts';
import type { Upstream, UpstreamExchange, UpstreamHead, UpstreamSink } from './upstream.ts';
import { UpstreamError } from './upstream.ts';

export { HTTP1_CARRIER_PROTOCOL, PROTOCOL_HEADER, TARGET_PORT_HEADER, TRANSPORT_HEADER } from './h2-connection.ts';

export interface H2UpstreamOptions {
  connectTimeoutMs: number;
  /** TCP keep-alive: first probe after this many ms (0 = OS default); absent = off. */
  tcpKeepaliveMs?: number;
  /** TLS for the tunnel; absent for h2c. Called per connection so rotated certificates apply. */
  tls?: () => SecureClientSessionOptions;
  /**
   * TLS a DestinationRule originates (SIMPLE, MUTUAL) to a server outside the tunnel: not the mesh's (no
   * SPIFFE peer, no tunnel windows). Per connection; a string says why none can be made (a secret that has
   * not arrived): the connection then fails (UF) before a byte of the request is sent.
   */
  originTls?: () => SecureClientSessionOptions | string;
  /** Added to every request (the tunnel's `x-outrigger-peer` source metadata). */
  extraHeaders?: Readonly<Record<string, string>>;
  /** Sessions this endpoint may open (the cluster's max_connections; Envoy's default 1024). */
  maxConnections?: number;
  /**
   * Streams a session opens before it takes no more and closes once they end (the next go on a new
   * session): a client's stream IDs run out at 2^30 (odd numbers below 2^31).
   */
  maxStreamsPerSession?: number;
  /**
   * Streams open at once on a session, when below the peer's SETTINGS_MAX_CONCURRENT_STREAMS. A Node
   * peer counts a stream until its own close event has run, so a stream opened as another closes can
   * find it full (refused with ENHANCE_YOUR_CALM); the tunnel's client stays well below its server's limit.
   */
  maxConcurrentStreams?: number;
  /** A session with no stream open this long is closed (the cluster's idle_timeout); absent or 0: never. */
  idleTimeoutMs?: number;
  /** Timers for the connect timeout, the peer certificate's expiry and its grace (the proxy's; real ones when absent). */
  timers?: Timers;
  /** Each session connected (the cluster's `upstream_cx_total`). */
  onConnected?: () => void;
  /** Its last session closed (or failed to connect) and no stream waits: the upstream may be dropped. */
  onIdle?: () => void;
}

/** A stream waiting for a session with room. */
interface Waiter {
  run(c: H2Connection): void;
  fail(err: UpstreamError): void;
}

export class H2Upstream implements Upstream {
  /** Requests the cluster's connection gate runs here (Upstream.gated). */
  gated = 0;
  readonly #origin: string;
  readonly #opts: H2UpstreamOptions;
  readonly #max: number;
  #conns: H2Connection[] = [];
  /** Every session not yet closed, those draining after a GOAWAY or their stream limit included. */
  #open = new Set<H2Connection>();
  /** The session being opened, if any: one at a time, so a burst does not open one per request. */
  #opening: H2Connection | undefined;
  #waiting: Waiter[] = [];
  #closed = false;

  constructor(origin: string, opts: H2UpstreamOptions) {
    this.#origin = origin;
    this.#opts = opts;
    this.#max = Math.max(1, opts.maxConnections ?? 1024);
  }

  connections(): number {
    let n = 0;
    for (const c of this.#conns) if (c.connected) n++;
    return n;
  }

  /** Streams open on this endpoint's sessions (requests, CONNECTs and carried connections), draining ones included. */
  streams(): number {
    let n = 0;
    for (const c of this.#open) n += c.active;
    return n;
  }

  /** The SPIFFE ID the peer's certificate proved on a connected session (a mesh tunnel), if any. */
  get verifiedPeer(): string | undefined {
    for (const c of this.#conns) if (c.connected && c.peerId) return c.peerId;
    return undefined;
  }

  request(head: UpstreamHead, body: Readable | null, sink: UpstreamSink): UpstreamExchange {
    // A session with room and nobody queued before this request (the common case): the stream goes on
    // it now, as #place would run it, without a waiter and a wrapping exchange per request.
    if (!this.#closed && this.#waiting.length === 0) {
      const c = this.#withRoom();
      if (c) {
        // SETTINGS received (Envoy's onPoolReady): not while it connects or is full.
        sink.onPoolReady?.();
        return c.request(head, body, sink);
      }
    }
    let inner: UpstreamExchange | undefined;
    let aborted = false;
    const waiter: Waiter = {
      run: (c) => {
        // A session with room, SETTINGS received (Envoy's onPoolReady): not while it connects or is full.
        sink.onPoolReady?.();
        inner = c.request(head, body, sink);
      },
      fail: (err) => sink.onError(err, false),
    };
    this.#place(waiter);
    return {
      resume: () => inner?.resume(),
      abort: (reason) => {
        if (aborted) return;
        aborted = true;
        if (inner) inner.abort(reason);
        else this.#waiting = this.#waiting.filter((w) => w !== waiter);
      },
    };
  }

  /** Opens a CONNECT tunnel stream to `authority` (TCP through the mesh tunnel). */
  connect(authority: string): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      this.#place({ run: (c) => c.connect(authority).then(resolve, reject), fail: reject });
    });
  }

  /** Opens a stream carrying an HTTP/1.1 connection to the tunnel at `authority`; null if the peer cannot take one. */
  carry(authority: string): Promise<Duplex | null> {
    return new Promise((resolve, reject) => {
      this.#place({ run: (c) => c.carry(authority).then(resolve, reject), fail: reject });
    });
  }

  #place(w: Waiter): void {
    if (this.#closed) {
      queueMicrotask(() => w.fail(new UpstreamError('connect', 'upstream closed')));
      return;
    }
    const c = this.#withRoom();
    if (c && this.#waiting.length === 0) {
      w.run(c);
      return;
    }
    this.#waiting.push(w);
    this.#grow();
  }

  #withRoom(): H2Connection | undefined {
    for (const c of this.#conns) if (c.spare() > 0) return c;
    return undefined;
  }

  /** Hands waiting streams to sessions with room, then opens one more session if some still wait. */
  #dispatch = (): void => {
    while (this.#waiting.length > 0) {
      const c = this.#withRoom();
      if (!c) break;
      (this.#waiting.shift() as Waiter).run(c);
    }
    this.#grow();
  };

  #grow(): void {
    if (this.#waiting.length === 0 || this.#opening || this.#closed) return;
    if (this.#conns.length >= this.#max) return;
    const c = new H2Connection(this.#origin, this.#opts, {
      onSettings: (conn) => {
        if (this.#opening === conn) this.#opening = undefined;
        this.#dispatch();
      },
      onStreamEnd: this.#dispatch,
      onGone: (conn, err) => this.#onGone(conn, err),
      onClosed: (conn) => {
        this.#open.delete(conn);
        // After the session's onGone, which fails or re-dispatches what waited.
        if (this.#opts.onIdle && this.#open.size === 0) queueMicrotask(this.#checkIdle);
      },
    });
    this.#open.add(c);
    this.#opening = c;
    this.#conns.push(c);
  }

  readonly #checkIdle = (): void => {
    if (this.#open.size === 0 && this.#waiting.length === 0 && !this.#closed) this.#opts.onIdle?.();
  };

  #onGone(c: H2Connection, err: UpstreamError | undefined): void {
    this.#conns = this.#conns.filter((x) => x !== c);
    if (this.#opening === c) {
      this.#opening = undefined;
      // The session never became ready: what waited for it fails as a connect failure (UF, retriable).
      if (err && !this.#withRoom()) {
        const failed = this.#waiting;
        this.#waiting = [];
        for (const w of failed) w.fail(err);
        return;
      }
    }
    this.#dispatch();
  }

  /** A mesh tunnel (TLS with a verified SPIFFE peer), not h2c. */
  get tunnel(): boolean {
    return this.#opts.tls !== undefined;
  }

  /**
   * Retires the sessions whose server identity `refused` now refuses (the names it must present
   * changed): no new streams, idle carried connections close (as at its certificate's expiry), and what
   * is still open is reset after REFUSED_PEER_GRACE_MS. Sessions of peers still allowed, and requests
   * waiting for a session, are left alone.
   */
  retireIf(refused: (peerId: string | undefined) => boolean): void {
    for (const c of [...this.#open]) if (c.connected && refused(c.peerId)) c.retire(this.#opts.timers ?? realTimers);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const failed = this.#waiting;
    this.#waiting = [];
    for (const w of failed) w.fail(new UpstreamError('connect', 'upstream closed'));
    const all = this.#conns;
    this.#conns = [];
    this.#opening = undefined;
    await Promise.all(all.map((c) => c.close()));
  }
}
