// A unary gRPC client for `Authorization/Check` over HTTP/2 on a stream the proxy dials to the
// provider's cluster, so a meshed authorization server is reached through the mTLS tunnel like any peer.
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { realTimers, type Timers } from '../../http/router.ts';
import { CHECK_METHOD_PATH, type CheckRequestJson, type CheckResponseJson, decodeCheckResponse, encodeCheckRequest } from './check-codec.ts';

/**
 * Opens a byte stream to one endpoint of a cluster (`outbound|9000||authz.foo.svc.cluster.local`);
 * `stale()` says when the cluster no longer connects that way (see dial-cluster.ts). `signal` abandons
 * the dial: what it had opened is closed.
 */
export type ClusterDialer = (cluster: string, signal?: AbortSignal) => Promise<Duplex & { readonly stale?: () => boolean }>;

export class ExtAuthzCallError extends Error {
  readonly code: 'EXT_AUTHZ_UNAVAILABLE' | 'EXT_AUTHZ_TIMEOUT' | 'EXT_AUTHZ_GRPC_STATUS' | 'EXT_AUTHZ_PROTOCOL' | 'EXT_AUTHZ_CANCELLED';
  constructor(code: ExtAuthzCallError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Idle sessions close after this long; the next check dials again. */
const IDLE_MS = 60_000;
const MAX_RESPONSE = 1024 * 1024;

/** A dial under way: the calls waiting for it, how to abandon it, and the session it will carry. */
interface Dialing {
  waiters: number;
  readonly abandon: AbortController;
  session: Promise<http2.ClientHttp2Session> | undefined;
}

export class GrpcCheckClient {
  readonly #cluster: string;
  readonly #authority: string;
  readonly #dial: ClusterDialer | undefined;
  /** The proxy's timers: each call's timeout runs on them (a test clock in tests). */
  readonly #timers: Timers;
  #session: Promise<http2.ClientHttp2Session> | undefined;
  /** The dial of `#session` while it is under way: the calls waiting for it, and how to abandon it. */
  #dialing: Dialing | undefined;
  /** Whether the current session's stream was dialed under config that has since changed. */
  #stale: (() => boolean) | undefined;

  constructor(cluster: string, authority: string, dial: ClusterDialer | undefined, timers: Timers = realTimers) {
    this.#cluster = cluster;
    this.#authority = authority;
    this.#dial = dial;
    this.#timers = timers;
  }

  /**
   * The session the next call goes out on, and `leave`, for a call that stops waiting for it: a dial
   * no call waits for any more is abandoned, its stream closed (Envoy's pool closes excess connections).
   */
  #connect(): { session: Promise<http2.ClientHttp2Session>; leave: () => void } {
    if (this.#session && this.#stale?.()) {
      // The cluster moved on (an endpoint left, TLS changed): checks already sent finish on the old
      // session, new ones go where the cluster now connects, as Envoy's pools drain on a cluster update.
      const old = this.#session;
      this.#session = undefined;
      this.#stale = undefined;
      void old.then((s) => s.close(), () => {});
    }
    const dial = this.#dial;
    if (!dial) return { session: Promise.reject(new ExtAuthzCallError('EXT_AUTHZ_UNAVAILABLE', `no dialer for cluster ${this.#cluster}`)), leave: () => {} };
    this.#session ??= this.#open(dial);
    const dialing = this.#dialing;
    if (!dialing) return { session: this.#session, leave: () => {} };
    dialing.waiters++;
    let left = false;
    const leave = (): void => {
      if (left) return;
      left = true;
      if (--dialing.waiters > 0 || this.#dialing !== dialing) return;
      // No call waits for it any more: the next call dials afresh rather than join an abandoned dial.
      this.#dialing = undefined;
      if (this.#session === dialing.session) this.#session = undefined;
      dialing.abandon.abort();
    };
    return { session: this.#session, leave };
  }

  #open(dial: ClusterDialer): Promise<http2.ClientHttp2Session> {
    const dialing: Dialing = { waiters: 0, abandon: new AbortController(), session: undefined };
    this.#dialing = dialing;
    const pending = dial(this.#cluster, dialing.abandon.signal).then((stream) => {
      // A dialer that could not stop in time: its stream lands with no call waiting for it.
      if (dialing.abandon.signal.aborted) {
        stream.destroy();
        throw new ExtAuthzCallError('EXT_AUTHZ_CANCELLED', `dial to ${this.#cluster} abandoned`);
      }
      if (this.#session === pending) this.#stale = stream.stale;
      // SETTINGS_ENABLE_PUSH 0, as Envoy's codec sends as a client: a pushed stream is refused, never kept.
      const session = http2.connect(`http://${this.#authority}`, { createConnection: () => stream, settings: { enablePush: false } });
      const forget = () => {
        if (this.#session === pending) this.#session = undefined;
      };
      session.on('error', forget);
      session.on('close', forget);
      session.on('goaway', forget);
      session.setTimeout(IDLE_MS, () => session.close());
      // A cached session must not keep the proxy process alive.
      if (typeof session.unref === 'function') session.unref();
      return session;
    });
    dialing.session = pending;
    pending.then(
      () => this.#dialed(dialing),
      () => {
        this.#dialed(dialing);
        if (this.#session === pending) this.#session = undefined;
      },
    );
    return pending;
  }

  #dialed(dialing: Dialing): void {
    if (this.#dialing === dialing) this.#dialing = undefined;
  }

  /**
   * One Check call. Its timeout is the whole call's, the dial included, as Envoy's (the async client's
   * request timeout): a provider that never completes a connection is given up at the timeout too.
   * `signal` cancels it (Envoy's client_->cancel()): a call already out is reset with RST_STREAM CANCEL,
   * which the server sees as the call cancelled; one still connecting is never sent.
   */
  check(request: CheckRequestJson, timeoutMs: number, signal?: AbortSignal): Promise<CheckResponseJson> {
    if (signal?.aborted) return Promise.reject(cancelled());
    const payload = encodeCheckRequest(request);
    const frame = Buffer.alloc(5 + payload.length);
    frame.writeUInt32BE(payload.length, 1);
    frame.set(payload, 5);
    const timers = this.#timers;
    return new Promise<CheckResponseJson>((resolve, reject) => {
      const { session, leave } = this.#connect();
      let stream: http2.ClientHttp2Stream | undefined;
      let done = false;
      const end = (err: ExtAuthzCallError | undefined, res?: CheckResponseJson): void => {
        if (done) return;
        done = true;
        timers.clear(timer);
        signal?.removeEventListener('abort', onAbort);
        if (!stream) leave();
        if (err) reject(err);
        else resolve(res as CheckResponseJson);
      };
      const timer = timers.set(() => {
        stream?.close(http2.constants.NGHTTP2_CANCEL);
        end(new ExtAuthzCallError('EXT_AUTHZ_TIMEOUT', `check timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const onAbort = (): void => {
        stream?.close(http2.constants.NGHTTP2_CANCEL);
        end(cancelled());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      session.then(
        (s) => {
          if (!done) stream = this.#send(s, frame, timeoutMs, end);
        },
        (err: unknown) => end(err instanceof ExtAuthzCallError ? err : new ExtAuthzCallError('EXT_AUTHZ_UNAVAILABLE', `cannot reach ${this.#cluster}`, { cause: err })),
      );
    });
  }

  /** Sends the call on `session`; `end` hears how it ended. Undefined when no stream could be opened. */
  #send(session: http2.ClientHttp2Session, frame: Buffer, timeoutMs: number, end: (err: ExtAuthzCallError | undefined, res?: CheckResponseJson) => void): http2.ClientHttp2Stream | undefined {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request({
        ':method': 'POST',
        ':path': CHECK_METHOD_PATH,
        ':authority': this.#authority,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${Math.max(1, Math.ceil(timeoutMs))}m`,
      });
    } catch (err) {
      end(new ExtAuthzCallError('EXT_AUTHZ_UNAVAILABLE', `cannot reach ${this.#cluster}`, { cause: err }));
      return undefined;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let status: string | undefined;
    let message = '';
    const readStatus = (h: http2.IncomingHttpHeaders) => {
      const s = h['grpc-status'];
      if (typeof s === 'string') status = s;
      const m = h['grpc-message'];
      if (typeof m === 'string') message = grpcMessage(m);
    };
    stream.on('response', (h) => {
      if (h[':status'] !== 200) status ??= 'http';
      readStatus(h);
    });
    stream.on('trailers', readStatus);
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_RESPONSE) return void stream.close(http2.constants.NGHTTP2_CANCEL);
      chunks.push(c);
    });
    stream.on('error', (err) => end(new ExtAuthzCallError('EXT_AUTHZ_UNAVAILABLE', `check stream failed: ${err.message}`, { cause: err })));
    stream.on('close', () => {
      if (status !== '0') return end(new ExtAuthzCallError('EXT_AUTHZ_GRPC_STATUS', `check answered grpc-status ${status ?? 'none'} ${message}`.trim()));
      const body = Buffer.concat(chunks);
      const len = body.length >= 5 ? body.readUInt32BE(1) : -1;
      if (len < 0 || body.length < 5 + len || body[0] !== 0) return end(new ExtAuthzCallError('EXT_AUTHZ_PROTOCOL', 'malformed or compressed check response'));
      try {
        end(undefined, decodeCheckResponse(body.subarray(5, 5 + len)));
      } catch (err) {
        end(new ExtAuthzCallError('EXT_AUTHZ_PROTOCOL', 'undecodable check response', { cause: err }));
      }
    });
    stream.end(frame);
    return stream;
  }
}

/**
 * A `grpc-message` percent-decoded, or as sent when its escapes are malformed: gRPC's PROTOCOL-HTTP2
 * says a decoder must not fail on them. The provider writes the field; a URIError thrown in the
 * stream's 'trailers' event would be uncaught and end the proxy.
 */
function grpcMessage(m: string): string {
  try {
    return decodeURIComponent(m);
  } catch {
    return m;
  }
}

function cancelled(): ExtAuthzCallError {
  return new ExtAuthzCallError('EXT_AUTHZ_CANCELLED', 'check cancelled: the downstream went away');
}
