// A request body that can be sent more than once: chunks stream to the current attempt as they arrive
// and a copy is kept (up to the route's bound) so a retry or a mirror can replay it from the start.
import { Readable } from 'node:stream';
import { RetryBodyBuffer } from '../http/retry/retry-buffer.ts';

const kOwner = Symbol('outrigger.replayableBody');
type AttemptBody = Readable & { [kOwner]?: ReplayableBody };

/** An attempt's body asks for more (its reader took what it held): the source flows again. */
function readAttempt(this: AttemptBody): void {
  this[kOwner]?.wanted(this);
}

// The source's events, shared by every body: the source carries its ReplayableBody (no closures per request).
function onSourceData(this: AttemptBody, chunk: Buffer): void {
  this[kOwner]?.sourceData(chunk);
}
function onSourceEnd(this: AttemptBody): void {
  this[kOwner]?.sourceEnded();
}
function onSourceError(this: AttemptBody): void {
  this[kOwner]?.sourceFailed();
}

export class ReplayableBody {
  readonly #source: Readable;
  readonly #buffer: RetryBodyBuffer;
  /**
   * The current attempt's body: a plain Readable the chunks are pushed into (not a PassThrough, whose
   * writable half and transform only copied them across), the source paused while it is full.
   */
  #current: AttemptBody | null = null;
  /** The current attempt's body has its end (push(null)): there is nothing to cut. */
  #currentEnded = false;
  /** The source was paused for the current attempt's body: its next read resumes it. */
  #pausedForAttempt = false;
  #ended = false;
  #failed = false;
  #onComplete: (() => void)[] = [];

  constructor(source: Readable, limit: number) {
    this.#source = source;
    this.#buffer = new RetryBodyBuffer(limit);
    (source as AttemptBody)[kOwner] = this;
    source.on('data', onSourceData);
    // A stream ends once and fails once: on, not once (no wrapper per request).
    source.on('end', onSourceEnd);
    source.on('error', onSourceError);
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
    if (prev && !this.#currentEnded) prev.destroy();
    const s: AttemptBody = new Readable({ read: readAttempt });
    s[kOwner] = this;
    this.#current = s;
    this.#currentEnded = false;
    this.#pausedForAttempt = false;
    for (const c of this.#buffer.chunks()) s.push(c);
    if (this.#ended) {
      s.push(null);
      this.#currentEnded = true;
    } else this.#source.resume();
    return s;
  }

  /** The current attempt's reader wants more: a source paused for it flows again. */
  wanted(s: Readable): void {
    if (s !== this.#current || !this.#pausedForAttempt) return;
    this.#pausedForAttempt = false;
    this.#source.resume();
  }

  /** The whole body as kept, once it has arrived (for mirrors); null if it was too large. */
  whenComplete(fn: (chunks: readonly Uint8Array[] | null) => void): void {
    if (this.#ended || this.#failed) fn(this.lost ? null : this.#buffer.chunks());
    else this.#onComplete.push(() => fn(this.lost ? null : this.#buffer.chunks()));
  }

  /** Stops feeding attempts (the request finished or was abandoned). */
  detach(): void {
    this.#source.off('data', onSourceData);
    const c = this.#current;
    this.#current = null;
    if (c && !this.#currentEnded) c.destroy();
    this.#source.resume();
  }

  /** A chunk of the source: kept for a replay, and pushed to the current attempt. */
  sourceData(chunk: Buffer): void {
    this.#buffer.push(chunk);
    const c = this.#current;
    if (c && !c.destroyed && !c.push(chunk)) {
      this.#pausedForAttempt = true;
      this.#source.pause();
    }
  }

  sourceEnded(): void {
    this.#ended = true;
    const c = this.#current;
    if (c && !c.destroyed) {
      c.push(null);
      this.#currentEnded = true;
    }
    this.#fire();
  }

  sourceFailed(): void {
    this.#failed = true;
    this.#current?.destroy();
    this.#fire();
  }

  #fire(): void {
    const list = this.#onComplete;
    this.#onComplete = [];
    for (const fn of list) fn();
  }
}
