// Bytes an HTTP/1.1 codec holds until they can be parsed (an unfinished head or chunk line, pipelined
// requests): kept as the parts they arrived in and joined once, so a peer that sends a head a byte at a
// time costs linear time, not a copy and a rescan of everything held on every read.

/** One shared empty buffer: what is left of a read taken whole, never a new view. */
export const EMPTY = Buffer.alloc(0);

export class Stash {
  #parts: Buffer[] = [];
  #len = 0;
  /** The last three bytes held, across parts: a blank line may straddle two reads. */
  #tail: Buffer = EMPTY;

  get length(): number {
    return this.#len;
  }

  /** Holds `buf` alone. */
  hold(buf: Buffer): void {
    this.#parts = [buf];
    this.#len = buf.length;
    this.#tail = tail3(EMPTY, buf);
  }

  add(chunk: Buffer): void {
    this.#parts.push(chunk);
    this.#len += chunk.length;
    this.#tail = tail3(this.#tail, chunk);
  }

  /** Everything held, then `chunk`, as one buffer; the stash is empty after. */
  take(chunk?: Buffer): Buffer {
    const parts = this.#parts;
    if (chunk) parts.push(chunk);
    const buf = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    this.clear();
    return buf;
  }

  clear(): void {
    this.#parts = [];
    this.#len = 0;
    this.#tail = EMPTY;
  }

  /** Whether the held bytes followed by `chunk` contain a blank line (CRLF CRLF, or LF LF) that was not held already. */
  endsHead(chunk: Buffer): boolean {
    if (chunk.indexOf(0x0a) < 0) return false;
    if (chunk.indexOf('\r\n\r\n', 0, 'latin1') >= 0 || chunk.indexOf('\n\n', 0, 'latin1') >= 0) return true;
    const probe = Buffer.concat([this.#tail, chunk.subarray(0, 3)]);
    return probe.indexOf('\r\n\r\n', 0, 'latin1') >= 0 || probe.indexOf('\n\n', 0, 'latin1') >= 0;
  }
}

/** The last three bytes of `held` followed by `more`. */
function tail3(held: Buffer, more: Buffer): Buffer {
  if (more.length >= 3) return more.subarray(more.length - 3);
  const both = Buffer.concat([held, more]);
  return both.subarray(Math.max(0, both.length - 3));
}
