// Chunked transfer coding (RFC 9112 §7.1), decoding side, shared by the HTTP/1.1 client and server
// codecs: a hex size with optional extensions, that many bytes, CRLF; after the zero-size chunk, trailer
// lines until an empty one. Lines longer than the limit, bad sizes and too many trailers are errors.

export interface ChunkedSink {
  data(chunk: Buffer): void;
  /** The last chunk arrived; its trailer lines as sent (`name: value`), for the caller to parse. */
  end(trailerLines: string[]): void;
  error(message: string): void;
}

const SIZE = 0;
const DATA = 1;
const DATA_END = 2;
const TRAILERS = 3;
const DONE = 4;
const HEX = /^[0-9a-fA-F]{1,12}$/;
const MAX_TRAILERS = 100;
/** Control characters (HTAB aside) have no place in a chunk line or a trailer: a bare LF there is a desync attempt. */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

export class ChunkedDecoder {
  readonly #maxLine: number;
  readonly #bareLf: boolean;
  #state = SIZE;
  #remaining = 0;
  #trailers: string[] = [];
  /** Bytes of trailer lines so far: together they get the same budget as one line. */
  #trailerBytes = 0;
  /** After decode(): the bytes past `used` are an unfinished line, to be handed back with more. */
  needMore = false;

  /** `bareLf`: accept LF alone as a line end (what a client may tolerate from a server; never a server). */
  constructor(maxLine: number, bareLf: boolean) {
    this.#maxLine = maxLine;
    this.#bareLf = bareLf;
  }

  /** Starts a new body. */
  reset(): void {
    this.#state = SIZE;
    this.#remaining = 0;
    this.#trailers = [];
    this.#trailerBytes = 0;
  }

  /**
   * Decodes from `buf` until it runs out, the body ends or an error; returns the bytes used (all of
   * them after an error). What is left is an unfinished line when `needMore`, else bytes after the body.
   */
  decode(buf: Buffer, sink: ChunkedSink): number {
    this.needMore = false;
    let at = 0;
    while (at < buf.length && this.#state !== DONE) {
      if (this.#state === DATA) {
        const n = Math.min(this.#remaining, buf.length - at);
        sink.data(buf.subarray(at, at + n));
        at += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#state = DATA_END;
        continue;
      }
      const lf = this.#bareLf ? buf.indexOf(0x0a, at) : buf.indexOf('\r\n', at, 'latin1');
      if (lf < 0) {
        if (buf.length - at > this.#maxLine) return this.#fail(sink, 'chunk line too long');
        this.needMore = true;
        return at;
      }
      const line = buf.toString('latin1', at, this.#bareLf && lf > at && buf[lf - 1] === 0x0d ? lf - 1 : lf);
      at = lf + (this.#bareLf ? 1 : 2);
      if (line.length > this.#maxLine) return this.#fail(sink, 'chunk line too long');
      if (!this.#bareLf && CONTROL.test(line)) return this.#fail(sink, 'control character in a chunk line');
      if (this.#state === DATA_END) {
        if (line !== '') return this.#fail(sink, 'missing CRLF after chunk data');
        this.#state = SIZE;
      } else if (this.#state === SIZE) {
        const semi = line.indexOf(';');
        const size0 = semi < 0 ? line : line.slice(0, semi);
        // Lenient (client) mode allows whitespace around the size, as some servers send it.
        const hex = this.#bareLf ? size0.trim() : size0;
        if (!HEX.test(hex)) return this.#fail(sink, 'invalid chunk size');
        const size = Number.parseInt(hex, 16);
        if (size === 0) this.#state = TRAILERS;
        else {
          this.#remaining = size;
          this.#state = DATA;
        }
      } else if (line !== '') {
        this.#trailerBytes += line.length;
        if (this.#trailers.push(line) > MAX_TRAILERS || this.#trailerBytes > this.#maxLine) return this.#fail(sink, 'trailers too large');
      } else {
        this.#state = DONE;
        sink.end(this.#trailers);
      }
    }
    return at;
  }

  #fail(sink: ChunkedSink, message: string): number {
    this.#state = DONE;
    sink.error(message);
    return Number.MAX_SAFE_INTEGER;
  }
}
