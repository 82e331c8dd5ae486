// OTLP over gRPC with node:http2 alone: one unary TraceService/Export call per batch, over cleartext
// HTTP/2 to the collector, as Envoy's OpenTelemetry tracer sends it for an Istio provider without
// `http:`. grpc-js would add its module tree to every sidecar for one unary call.
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders, SecureClientSessionOptions } from 'node:http2';
import { createRequire } from 'node:module';
import type { LookupFunction } from 'node:net';
import { collectorLookup } from './collector-lookup.ts';
import { type DeadlineTimers, realDeadlineTimers } from './deadline-timers.ts';
import { encodeExportTraceRequest } from './otlp-proto.ts';
import type { SpanBatch, SpanSender } from './sender.ts';

// Loaded when the first session is opened (the first export), so a proxy that never exports over OTLP/gRPC never loads it.
const require = createRequire(import.meta.url);
let http2: typeof import('node:http2') | undefined;

export const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** grpc-timeout takes at most 8 digits. */
const MAX_GRPC_TIMEOUT = 99_999_999;

export interface OtlpGrpcOptions {
  /** The collector's host (the provider's service) and port. */
  host: string;
  port: number;
  /** gRPC metadata sent with every call (Istio's `grpc.initialMetadata`). */
  headers?: Readonly<Record<string, string>>;
  timeoutMs: number;
  /** Opens the HTTP/2 session with these options (node:http2's connect by default; tests watch the sessions). */
  connect?: (authority: string, options: SecureClientSessionOptions) => ClientHttp2Session;
  /** The collector's name lookup: collectorLookup, shared by every sender, by default. */
  lookup?: LookupFunction;
  timers?: DeadlineTimers;
}

export class OtlpGrpcSender implements SpanSender {
  readonly #o: OtlpGrpcOptions;
  readonly #authority: string;
  readonly #sessionOptions: SecureClientSessionOptions;
  readonly #timers: DeadlineTimers;
  #session: ClientHttp2Session | undefined;

  constructor(options: OtlpGrpcOptions) {
    this.#o = options;
    this.#timers = options.timers ?? realDeadlineTimers;
    // SETTINGS_ENABLE_PUSH 0, as Envoy's HTTP/2 codec sends it as a client (ConnectionImpl::sendSettingsHelper):
    // nghttp2 then refuses a collector's PUSH_PROMISE (RST_STREAM CANCEL before it has taken our
    // SETTINGS, a connection error after), where Node's default took every pushed stream and kept it,
    // unread, on the session kept for every batch.
    this.#sessionOptions = { settings: { enablePush: false }, lookup: options.lookup ?? collectorLookup };
    this.#authority = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  }

  /** One session for every batch, made again once it failed, closed or was told to go away. */
  #connected(): ClientHttp2Session {
    const live = this.#session;
    if (live && !live.closed && !live.destroyed) return live;
    http2 ??= require('node:http2') as typeof import('node:http2');
    const session = this.#o.connect ? this.#o.connect(this.#authority, this.#sessionOptions) : http2.connect(this.#authority, this.#sessionOptions);
    const forget = () => {
      if (this.#session === session) this.#session = undefined;
    };
    // A refused or dropped connection fails the calls on it; the session is only forgotten.
    session.on('error', forget);
    session.on('goaway', forget);
    session.on('close', forget);
    // Never what keeps the proxy's process alive.
    session.unref();
    this.#session = session;
    return session;
  }

  send(batch: SpanBatch): Promise<boolean> {
    const message = encodeExportTraceRequest(batch);
    // gRPC's length-prefixed message: a compressed flag (0), the length as 4 bytes big-endian, the bytes.
    const frame = Buffer.allocUnsafe(5 + message.length);
    frame[0] = 0;
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    return new Promise((resolve) => {
      let session: ClientHttp2Session | undefined;
      let stream: ClientHttp2Stream;
      try {
        session = this.#connected();
        // The call's own headers over the provider's metadata: gRPC needs them as they are.
        stream = session.request({
          ...this.#o.headers,
          ':method': 'POST',
          ':path': EXPORT_PATH,
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-timeout': `${Math.min(MAX_GRPC_TIMEOUT, Math.max(1, Math.ceil(this.#o.timeoutMs)))}m`,
        });
      } catch {
        // A session that closed under the call, or a header node:http2 refuses.
        this.#drop(session);
        return resolve(false);
      }
      let httpOk = false;
      let grpcStatus: string | undefined;
      let done = false;
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        this.#timers.clearTimeout(timer);
        resolve(ok);
      };
      const timer = this.#timers.setTimeout(() => {
        stream.close(http2?.constants.NGHTTP2_CANCEL);
        // A collector that does not answer in time may not answer at all: the next batch connects again.
        this.#drop(session);
        finish(false);
      }, this.#o.timeoutMs);
      const status = (h: IncomingHttpHeaders) => {
        const s = h['grpc-status'];
        if (typeof s === 'string') grpcStatus = s;
      };
      stream.on('response', (h) => {
        httpOk = h[':status'] === 200;
        // Trailers-only: an error answered in the response headers, with no body and no trailers.
        status(h);
      });
      stream.on('trailers', status);
      stream.on('data', () => {});
      stream.on('error', () => finish(false));
      stream.on('close', () => finish(httpOk && grpcStatus === '0'));
      stream.end(frame);
    });
  }

  #drop(session: ClientHttp2Session | undefined): void {
    if (!session) return;
    if (this.#session === session) this.#session = undefined;
    session.destroy();
  }

  close(): void {
    const session = this.#session;
    this.#session = undefined;
    // Calls still in flight finish; no new one starts on this session.
    session?.close();
  }
}
