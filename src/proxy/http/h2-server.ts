// A downstream HTTP/2 request and its response straight on Node's server stream, without the compat
// layer. Node's Http2ServerRequest is a second Readable fed from the stream and its response a second
// writer; between them they add eleven listeners to every stream and copy every header through a
// validating setter. The proxy needs the head, the body (the stream itself is that Readable), and a
// response head, body and trailers: these two objects are that and nothing more.
import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { h1ServerDefaults } from './h1-server.ts';

const kTrailers = Symbol('outrigger.h2.trailers');
const kResponse = Symbol('outrigger.h2.response');
type TrailerSlot = { [kTrailers]?: IncomingHttpHeaders };
type ResponseSlot = { [kResponse]?: H2Response };

/**
 * A stream handed to the connection manager may carry its session's close hook (the HCM connection
 * idle timeout's count of active streams, http-servers.ts): run by the HttpStream's one 'close'
 * listener, so no second listener per stream.
 */
export const kStreamCloseHook = Symbol('outrigger.h2.streamCloseHook');
export type StreamCloseHooked = { [kStreamCloseHook]?: { streamClosed(): void } };

const noTrailers: Readonly<Record<string, string | string[] | undefined>> = Object.freeze({});

/**
 * Request trailers are held to the head's limit (Envoy's max_request_headers_kb, which its HTTP/2 codec
 * applies to trailers as to a head, on their decoded size). Past it they are dropped and the stream is
 * reset as Envoy's codec resets it (nghttp2's RST_STREAM INTERNAL_ERROR, `http2.too_many_headers`): by
 * then the head has gone upstream, and there is no answering with a 431. Node hands the raw list too.
 */
function onTrailers(this: ServerHttp2Stream & TrailerSlot, trailers: IncomingHttpHeaders, _flags: number, raw: readonly string[] | undefined): void {
  if (raw !== undefined) {
    let n = 0;
    for (let i = 0; i < raw.length; i++) n += (raw[i] as string).length;
    if (n > h1ServerDefaults.maxHeadBytes) return void this.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  }
  this[kTrailers] = trailers;
}

/**
 * A head's fields as Envoy's HeaderMap byteSize counts them: name and value bytes of every field,
 * pseudo-headers included, each value of a repeated field with its name. Node's HTTP/2 keeps field
 * values as one byte per character, and tells neither the HPACK block nor the frames a head took.
 */
function fieldBytes(h: Readonly<Record<string, unknown>> | undefined): number {
  let n = 0;
  if (h === undefined) return n;
  for (const k in h) {
    const v = h[k];
    if (typeof v === 'string') n += k.length + v.length;
    else if (typeof v === 'number') n += k.length + digits(v);
    else if (Array.isArray(v)) for (let i = 0; i < v.length; i++) n += k.length + String(v[i]).length;
  }
  return n;
}

/** fieldBytes of a head in Node's raw form: name, value, name, value. */
function rawFieldBytes(raw: readonly unknown[]): number {
  let n = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = (raw[i] as string).length;
    const v = raw[i + 1];
    if (typeof v === 'string') n += k + v.length;
    else if (typeof v === 'number') n += k + digits(v);
    else if (Array.isArray(v)) for (let j = 0; j < v.length; j++) n += k + String(v[j]).length;
  }
  return n;
}

/** The decimal digits of a non-negative integer (a `:status`), without making its string. */
function digits(v: number): number {
  if (!Number.isInteger(v) || v < 0) return String(v).length;
  let d = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) d++;
  return d;
}

export class H2Request {
  readonly stream: ServerHttp2Stream;
  /** The request head as Node decoded it, pseudo-headers included. */
  readonly headers: IncomingHttpHeaders;
  /** Name, value, name, value: the head in arrival order. */
  readonly rawHeaders: string[];

  constructor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]) {
    this.stream = stream;
    this.headers = headers;
    this.rawHeaders = rawHeaders;
    // Trailers follow a body only, and may arrive before anything reads it (a filter still deciding).
    // (on, not once: a stream has one trailer block, and once() wraps the listener per stream.)
    if (!stream.endAfterHeaders) stream.on('trailers', onTrailers);
  }

  get method(): string {
    return this.headers[':method'] as string;
  }

  get url(): string {
    return (this.headers[':path'] as string | undefined) ?? '';
  }

  get trailers(): Readonly<Record<string, string | string[] | undefined>> {
    return (this.stream as TrailerSlot)[kTrailers] ?? noTrailers;
  }

  /** The head's and trailers' field bytes as received (name and value each; no HPACK, no framing). */
  get fieldBytes(): number {
    const raw = this.rawHeaders;
    let n = 0;
    for (let i = 0; i < raw.length; i++) n += (raw[i] as string).length;
    return n + fieldBytes((this.stream as TrailerSlot)[kTrailers]);
  }

  /** The client's END_STREAM arrived and the body was read to its end, or the stream is gone. */
  get complete(): boolean {
    const s = this.stream;
    return s.readableEnded || s.destroyed || s.closed;
  }

  on(event: 'error', fn: (err: Error) => void): this {
    this.stream.on(event, fn);
    return this;
  }
}

function onWantTrailers(this: ServerHttp2Stream & ResponseSlot): void {
  const res = this[kResponse];
  try {
    this.sendTrailers(res?.trailers ?? {});
  } catch (err) {
    // Trailers Node refuses (a single-value field repeated by an HTTP/1.1 upstream): this stream ends,
    // not the process (an exception thrown from this event is uncaught).
    this.destroy(err as Error);
  }
}

// respond() only reads its options: one object each for every response.
const endStreamOptions: Readonly<{ endStream: true }> = Object.freeze({ endStream: true });
const waitForTrailersOptions: Readonly<{ waitForTrailers: true }> = Object.freeze({ waitForTrailers: true });

export class H2Response {
  readonly stream: ServerHttp2Stream;
  statusCode = 200;
  /** Set by addTrailers; sent when the body ends (the response head asks to wait for them). */
  trailers: OutgoingHttpHeaders | null = null;
  /** The fields of an interim head sent before the response (the 100 answering an expectation). */
  interimBytes = 0;
  #headers: OutgoingHttpHeaders | null = null;
  /** The head as sent, in Node's raw form (name, value, ...; Node appends its `date`), for fieldBytes. */
  #sent: unknown[] | null = null;
  #ending = false;

  constructor(stream: ServerHttp2Stream) {
    this.stream = stream;
  }

  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  /**
   * The head's and trailers' field bytes as sent (name and value each, Node's `date` included; no
   * HPACK, no framing): read from what Node kept of them, once, when the stream ends (HttpStream.closed).
   */
  get fieldBytes(): number {
    const s = this.stream;
    const head = !s.headersSent ? 0 : this.#sent !== null ? rawFieldBytes(this.#sent) : fieldBytes(s.sentHeaders);
    return this.interimBytes + head + fieldBytes(s.sentTrailers);
  }

  /**
   * The response went out whole. Not the stream's own writableFinished alone: a stream the client
   * reset (RST_STREAM) before the response ended is ended by Node itself, and its writable side then
   * finishes too; Node marks such a stream `aborted`.
   */
  get writableFinished(): boolean {
    const s = this.stream;
    return s.writableFinished && !s.aborted;
  }

  setHeader(name: string, value: string | number | readonly string[]): this {
    if (this.#headers === null) this.#headers = {};
    this.#headers[name.toLowerCase()] = value as string;
    return this;
  }

  /**
   * Sends the head, or does nothing on a stream already gone. Like the compat response, the stream then
   * waits for trailers at its end (an upstream's, or an empty set), so a body of any length can end
   * with them. `headers` is the caller's to give: every caller builds it for this head, and it becomes
   * the head sent (no copy per response).
   */
  writeHead(status: number, headers?: OutgoingHttpHeaders): this {
    this.#respond(status, headers, false);
    return this;
  }

  /** Head and end at once: one HEADERS frame with END_STREAM (gRPC's trailers-only answer). */
  endHead(status: number, headers: OutgoingHttpHeaders): void {
    if (this.#ending) return;
    this.#ending = true;
    this.#respond(status, headers, true);
  }

  #respond(status: number, headers: OutgoingHttpHeaders | undefined, endStream: boolean): void {
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    const head: OutgoingHttpHeaders = headers ?? {};
    // setHeader's fields, under what the head names itself.
    const set = this.#headers;
    if (set !== null) for (const k in set) if (head[k] === undefined) head[k] = set[k];
    head[':status'] = status;
    this.statusCode = status;
    if (!endStream) {
      (stream as ResponseSlot)[kResponse] = this;
      // A stream asks for its trailers once: on, not once (no wrapper per stream).
      stream.on('wantTrailers', onWantTrailers);
    }
    try {
      stream.respond(this.#raw(head, status), endStream ? endStreamOptions : waitForTrailersOptions);
      // A head Node ends by itself (204, 304, any answer to HEAD: respond() forces END_STREAM) never asks
      // for trailers: no 'wantTrailers' comes, and nothing (resetUnfinished) may wait for one.
      if (!endStream && stream.writableEnded) stream.removeListener('wantTrailers', onWantTrailers);
    } catch (err) {
      // A head Node refuses (a connection-specific field, an invalid value) ends this stream, not the process.
      stream.destroy(err as Error);
    }
  }

  /**
   * The head for respond() in Node's raw form, kept for fieldBytes. Given an object, Node first copies
   * it field by field into a null-prototype object (a dictionary: slow to fill, and slow to walk again
   * for fieldBytes when the stream ends); given name, value pairs it takes them as they are (and appends
   * its `date` to them). A status Node would read as none (not a number) keeps the object, where Node
   * puts 200 in its place.
   */
  #raw(head: OutgoingHttpHeaders, status: number): OutgoingHttpHeaders | string[] {
    if ((status | 0) === 0) return head;
    const raw: unknown[] = [':status', status];
    for (const k in head) {
      if (k === ':status') continue;
      const v = head[k];
      if (v !== undefined) raw.push(k, v);
    }
    this.#sent = raw;
    return raw as string[];
  }

  write(chunk: Buffer | string): boolean {
    const stream = this.stream;
    if (this.#ending || stream.destroyed) return false;
    if (!stream.headersSent) this.#respond(this.statusCode, undefined, false);
    return stream.write(chunk);
  }

  end(chunk?: Buffer | string): this {
    if (this.#ending) return this;
    if (chunk !== undefined && chunk !== null && chunk.length > 0) this.write(chunk);
    this.#ending = true;
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return this;
    // Nothing written: the head alone, with END_STREAM.
    if (!stream.headersSent) this.#respond(this.statusCode, undefined, true);
    else stream.end();
    return this;
  }

  addTrailers(trailers: OutgoingHttpHeaders): void {
    if (this.trailers === null) this.trailers = {};
    for (const k in trailers) this.trailers[k.toLowerCase()] = trailers[k];
  }

  on(event: string, fn: (...args: never[]) => void): this {
    this.stream.on(event, fn as (...args: unknown[]) => void);
    return this;
  }

  destroy(err?: Error): void {
    this.stream.destroy(err);
  }
}

/**
 * The request and response of a new server stream, after what Node's compat layer checks first: an
 * `Expect: 100-continue` is answered 100 and served, any other expectation 417. Undefined when the
 * stream was answered here.
 */
export function serverExchange(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): { req: H2Request; res: H2Response } | undefined {
  const expect = headers.expect;
  if (expect !== undefined) {
    if (expect !== '100-continue') {
      if (!stream.destroyed) stream.respond({ ':status': http2.constants.HTTP_STATUS_EXPECTATION_FAILED }, { endStream: true });
      return undefined;
    }
    if (!stream.destroyed && !stream.headersSent) {
      stream.additionalHeaders({ ':status': 100 });
      // Envoy's codec meters the interim HEADERS as bytes sent (istio_response_bytes): `:status: 100`.
      const res = new H2Response(stream);
      res.interimBytes = 10;
      return { req: new H2Request(stream, headers, rawHeaders), res };
    }
  }
  return { req: new H2Request(stream, headers, rawHeaders), res: new H2Response(stream) };
}
