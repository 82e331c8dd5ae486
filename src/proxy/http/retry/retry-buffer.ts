// Keeps a copy of the request body so a retry can resend it, up to a bound (64 KiB by default, or the
// route's per_request_buffer_limit_bytes); past the bound the copy is dropped and retries stop.

export const DEFAULT_RETRY_BUFFER_LIMIT = 64 * 1024;

export class RetryBodyBuffer {
  readonly limit: number;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #overflowed = false;

  constructor(limit = DEFAULT_RETRY_BUFFER_LIMIT) {
    this.limit = limit;
  }

  /** Keeps a chunk; false once the body is over the limit (the kept copy is then released). */
  push(chunk: Uint8Array): boolean {
    if (this.#overflowed) return false;
    this.#size += chunk.byteLength;
    if (this.#size > this.limit) {
      this.#overflowed = true;
      this.#chunks = [];
      return false;
    }
    this.#chunks.push(chunk);
    return true;
  }

  get overflowed(): boolean {
    return this.#overflowed;
  }

  get size(): number {
    return this.#size;
  }

  /** The body kept so far, for replay on a retry. */
  chunks(): readonly Uint8Array[] {
    return this.#chunks;
  }
}
