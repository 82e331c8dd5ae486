// HTTP/2 upstream: one session per endpoint, reopened when it closes. Serves h2c clusters (gRPC) and,
// with TLS options, the mesh tunnel, where the target port travels in `x-outrigger-target-port`.
import http2 from 'node:http2';
import type { Duplex, Readable } from 'node:stream';
import type { SecureClientSessionOptions } from 'node:http2';
import type { OutgoingHeaders, Upstream, UpstreamExchange, UpstreamHead, UpstreamSink } from './upstream.ts';
import { UpstreamError } from './upstream.ts';

export const TARGET_PORT_HEADER = 'x-outrigger-target-port';

/** Hop-by-hop headers that HTTP/2 forbids. */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'te']);

export interface H2UpstreamOptions {
  connectTimeoutMs: number;
  /** TLS for the tunnel; absent for h2c. Called per connection so rotated certificates apply. */
  tls?: () => SecureClientSessionOptions;
  /** Added to every request (the tunnel's `x-outrigger-peer` source metadata). */
  extraHeaders?: Readonly<Record<string, string>>;
}

export class H2Upstream implements Upstream {
  #origin: string;
  #opts: H2UpstreamOptions;
  #session: http2.ClientHttp2Session | undefined;
  #connected = false;

  constructor(origin: string, opts: H2UpstreamOptions) {
    this.#origin = origin;
    this.#opts = opts;
  }

  connections(): number {
    return this.#session && this.#connected ? 1 : 0;
  }

  #getSession(): http2.ClientHttp2Session {
    const s = this.#session;
    if (s && !s.closed && !s.destroyed) return s;
    const session = http2.connect(this.#origin, { ...(this.#opts.tls?.() ?? {}), settings: { enablePush: false } });
    this.#session = session;
    this.#connected = false;
    const timer = setTimeout(() => session.destroy(new UpstreamError('connect', `connect timeout after ${this.#opts.connectTimeoutMs}ms`)), this.#opts.connectTimeoutMs);
    timer.unref();
    session.once('connect', () => {
      clearTimeout(timer);
      this.#connected = true;
    });
    session.on('error', () => {});
    session.once('close', () => {
      clearTimeout(timer);
      if (this.#session === session) this.#session = undefined;
    });
    session.on('goaway', () => {
      if (this.#session === session) this.#session = undefined;
    });
    return session;
  }

  request(head: UpstreamHead, body: Readable | null, sink: UpstreamSink): UpstreamExchange {
    const headers: http2.OutgoingHttpHeaders = {
      ':method': head.method,
      ':path': head.path,
      ':authority': head.authority,
      ':scheme': head.scheme,
    };
    for (const [k, v] of Object.entries(head.headers)) if (!hopByHop.has(k)) headers[k] = v;
    if (head.headers['te'] === 'trailers') headers['te'] = 'trailers';
    if (head.targetPort !== undefined) headers[TARGET_PORT_HEADER] = String(head.targetPort);
    if (this.#opts.extraHeaders) Object.assign(headers, this.#opts.extraHeaders);
    const session = this.#getSession();
    const wasConnected = this.#connected;
    let stream: http2.ClientHttp2Stream;
    try {
      // With a body that may end in trailers, the stream stays open after the last DATA frame until
      // they are sent (an empty set ends it with an empty END_STREAM DATA frame).
      stream = session.request(headers, { endStream: body === null, waitForTrailers: body !== null && head.trailers !== undefined });
    } catch (err) {
      queueMicrotask(() => sink.onError(new UpstreamError('connect', (err as Error).message, err)));
      return { resume() {}, abort() {} };
    }
    let done = false;
    let gotHead = false;
    const fail = (err: Error & { code?: string }) => {
      if (done) return;
      done = true;
      const connectPhase = !gotHead && (!wasConnected && !this.#connected);
      sink.onError(err instanceof UpstreamError ? err : new UpstreamError(connectPhase ? 'connect' : 'reset', err.message, err));
    };
    stream.on('response', (h) => {
      // A stream already failed (and perhaps retried elsewhere) must not deliver a second head.
      if (done) return;
      gotHead = true;
      const out: OutgoingHeaders = {};
      let status = 200;
      for (const [k, v] of Object.entries(h)) {
        if (k === ':status') status = Number(v);
        else if (!k.startsWith(':') && v !== undefined) out[k] = v as string | string[];
      }
      sink.onHead(status, out);
      // Node emits 'response' on the next tick but pushes DATA at once: reading only from here keeps
      // body bytes that arrived with the HEADERS frame from reaching the sink before the head does.
      if (!done) stream.on('data', onData);
    });
    const onData = (chunk: Buffer) => {
      if (!sink.onData(chunk)) stream.pause();
    };
    let trailers: OutgoingHeaders = {};
    stream.on('trailers', (t) => {
      for (const [k, v] of Object.entries(t)) if (v !== undefined && !k.startsWith(':')) trailers[k] = v as string | string[];
    });
    stream.on('end', () => {
      if (done) return;
      if (!gotHead) return fail(new UpstreamError('protocol', 'stream ended without a response head'));
      done = true;
      sink.onEnd(trailers);
      trailers = {};
    });
    stream.on('error', fail);
    stream.on('close', () => {
      if (!done) fail(new UpstreamError(gotHead ? 'reset' : this.#connected ? 'reset' : 'connect', `stream closed (code ${stream.rstCode})`));
    });
    if (body) {
      const trailersOf = head.trailers;
      if (trailersOf) stream.once('wantTrailers', () => stream.sendTrailers(trailersOf()));
      body.pipe(stream);
      body.on('error', () => stream.close(http2.constants.NGHTTP2_CANCEL));
    }
    return {
      // Before the head nothing reads the stream: flowing then would drop body bytes.
      resume: () => {
        if (gotHead) stream.resume();
      },
      abort: () => {
        done = true;
        stream.close(http2.constants.NGHTTP2_CANCEL);
      },
    };
  }

  /** Opens a CONNECT tunnel stream to `authority` (TCP through the mesh tunnel). */
  connect(authority: string): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.#getSession().request({ ':method': 'CONNECT', ':authority': authority, ...(this.#opts.extraHeaders ?? {}) });
      } catch (err) {
        reject(new UpstreamError('connect', (err as Error).message, err));
        return;
      }
      stream.on('error', (err) => reject(new UpstreamError('connect', err.message, err)));
      stream.once('response', (h) => {
        const status = Number(h[':status']);
        if (status >= 200 && status < 300) resolve(stream);
        else {
          stream.close();
          reject(new UpstreamError('connect', `tunnel CONNECT answered ${status}`));
        }
      });
    });
  }

  async close(): Promise<void> {
    const s = this.#session;
    this.#session = undefined;
    if (!s || s.closed) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
