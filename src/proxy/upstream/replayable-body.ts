// A request body that can be sent more than once: chunks stream to the current attempt as they arrive
// and a copy is kept (up to the route's bound) so a retry or a mirror can replay it from the start.
import { PassThrough, type Readable } from 'node:stream';
import { RetryBodyBuffer } from '../http/retry/retry-buffer.ts';

export class ReplayableBody {
  readonly #source: Readable;
  readonly #buffer: RetryBodyBuffer;
  #current: PassThrough | null = null;
  #ended = false;
  #failed = false;
  #onComplete: (() => void)[] = [];

  constructor(source: Readable, limit: number) {
    this.#source = source;
    this.#buffer = new RetryBodyBuffer(limit);
    source.on('data', this.#onData);
    source.once('end', this.#onEnd);
    source.once('error', this.#onError);
  }

  /** The copy outgrew the bound: the body can be sent once only. */
  get lost(): boolean {
    return this.#buffer.overflowed || this.#failed;
  }

  get complete(): boolean {
    return this.#ended;
  }

  /** A fresh stream for the next attempt: the kept chunks first, then whatever still arrives. */
  stream(): Readable {
    const prev = this.#current;
    if (prev && !prev.writableEnded) prev.destroy();
    const s = new PassThrough();
    this.#current = s;
    for (const c of this.#buffer.chunks()) s.write(c);
    if (this.#ended) s.end();
    else this.#source.resume();
    return s;
  }

  /** The whole body as kept, once it has arrived (for mirrors); null if it was too large. */
  whenComplete(fn: (chunks: readonly Uint8Array[] | null) => void): void {
    if (this.#ended || this.#failed) fn(this.lost ? null : this.#buffer.chunks());
    else this.#onComplete.push(() => fn(this.lost ? null : this.#buffer.chunks()));
  }

  /** Stops feeding attempts (the request finished or was abandoned). */
  detach(): void {
    this.#source.off('data', this.#onData);
    const c = this.#current;
    this.#current = null;
    if (c && !c.writableEnded) c.destroy();
    this.#source.resume();
  }

  #onData = (chunk: Buffer): void => {
    this.#buffer.push(chunk);
    const c = this.#current;
    if (c && !c.destroyed && !c.write(chunk)) {
      this.#source.pause();
      c.once('drain', this.#resume);
    }
  };

  #resume = (): void => {
    this.#source.resume();
  };

  #onEnd = (): void => {
    this.#ended = true;
    const c = this.#current;
    if (c && !c.destroyed) c.end();
    this.#fire();
  };

  #onError = (): void => {
    this.#failed = true;
    this.#current?.destroy();
    this.#fire();
  };

  #fire(): void {
    const list = this.#onComplete;
    this.#onComplete = [];
    for (const fn of list) fn();
  }
}
