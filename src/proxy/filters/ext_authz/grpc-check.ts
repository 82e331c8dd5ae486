// A unary gRPC client for `Authorization/Check` over HTTP/2 on a stream the proxy dials to the
// provider's cluster, so a meshed authorization server is reached through the mTLS tunnel like any peer.
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { realTimers, type Timers } from '../../http/router.ts';
import { CHECK_METHOD_PATH, type CheckRequestJson, type CheckResponseJson, decodeCheckResponse, encodeCheckRequest } from './check-codec.ts';

/**
 * Opens a byte stream to one endpoint of a cluster (`outbound|9000||authz.foo.svc.cluster.local`);
 * `stale()` says when the cluster no longer connects that way (see dial-cluster.ts).
 */
export type ClusterDialer = (cluster: string) => Promise<Duplex & { readonly stale?: () => boolean }>;

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

export class GrpcCheckClient {
  readonly #cluster: string;
  readonly #authority: string;
  readonly #dial: ClusterDialer | undefined;
  /** The proxy's timers: each call's timeout runs on them (a test clock in tests). */
  readonly #timers: Timers;
  #session: Promise<http2.ClientHttp2Session> | undefined;
  /** Whether the current session's stream was dialed under config that has since changed. */
  #stale: (() => boolean) | undefined;

  constructor(cluster: string, authority: string, dial: ClusterDialer | undefined, timers: Timers = realTimers) {
    this.#cluster = cluster;
    this.#authority = authority;
    this.#dial = dial;
    this.#timers = timers;
  }

  #connect(): Promise<http2.ClientHttp2Session> {
    if (this.#session && this.#stale?.()) {
      // The cluster moved on (an endpoint left, TLS changed): checks already sent finish on the old
      // session, new ones go where the cluster now connects, as Envoy's pools drain on a cluster update.
      const old = this.#session;
      this.#session = undefined;
      this.#stale = undefined;
      void old.then((s) => s.close(), () => {});
    }
    if (this.#session) return this.#session;
    const dial = this.#dial;
    if (!dial) return Promise.reject(new ExtAuthzCallError('EXT_AUTHZ_UNAVAILABLE', `no dialer for cluster ${this.#cluster}`));
    const pending = dial(this.#cluster).then((stream) => {
      if (this.#session === pending) this.#stale = stream.stale;
      const session = http2.connect(`http://${this.#authority}`, { createConnection: () => stream });
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
    this.#session = pending;
    pending.catch(() => {
      if (this.#session === pending) this.#session = undefined;
    });
    return pending;
  }

  /**
   * One Check call. `signal` cancels it (Envoy's client_->cancel()): a call already out is reset with
   * RST_STREAM CANCEL, which the server sees as the call cancelled; one still connecting is never sent.
   */
  async check(request: CheckRequestJson, timeoutMs: number, signal?: AbortSignal): Promise<CheckResponseJson> {
    let session: http2.ClientHttp2Session;
    try {
      session = await this.#connect();
    } catch (err) {
      throw err instanceof ExtAuthzCallError ? err : new ExtAuthzCallError('EXT_AUTHZ_UNAVAILABLE', `cannot reach ${this.#cluster}`, { cause: err });
    }
    if (signal?.aborted) throw cancelled();
    const payload = encodeCheckRequest(request);
    const frame = Buffer.alloc(5 + payload.length);
    frame.writeUInt32BE(payload.length, 1);
    frame.set(payload, 5);
    return new Promise<CheckResponseJson>((resolve, reject) => {
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
        reject(new ExtAuthzCallError('EXT_AUTHZ_UNAVAILABLE', `cannot reach ${this.#cluster}`, { cause: err }));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let status: string | undefined;
      let message = '';
      const timers = this.#timers;
      const timer = timers.set(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(new ExtAuthzCallError('EXT_AUTHZ_TIMEOUT', `check timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const onAbort = (): void => {
        timers.clear(timer);
        stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(cancelled());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
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
      stream.on('error', (err) => {
        timers.clear(timer);
        reject(new ExtAuthzCallError('EXT_AUTHZ_UNAVAILABLE', `check stream failed: ${err.message}`, { cause: err }));
      });
      stream.on('close', () => {
        timers.clear(timer);
        signal?.removeEventListener('abort', onAbort);
        if (status !== '0') return reject(new ExtAuthzCallError('EXT_AUTHZ_GRPC_STATUS', `check answered grpc-status ${status ?? 'none'} ${message}`.trim()));
        const body = Buffer.concat(chunks);
        const len = body.length >= 5 ? body.readUInt32BE(1) : -1;
        if (len < 0 || body.length < 5 + len || body[0] !== 0) return reject(new ExtAuthzCallError('EXT_AUTHZ_PROTOCOL', 'malformed or compressed check response'));
        try {
          resolve(decodeCheckResponse(body.subarray(5, 5 + len)));
        } catch (err) {
          reject(new ExtAuthzCallError('EXT_AUTHZ_PROTOCOL', 'undecodable check response', { cause: err }));
        }
      });
      stream.end(frame);
    });
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
