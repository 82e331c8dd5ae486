// Coalesces bursts of config events into few pushes, as Istio's pilot does: fire after a quiet period
// (100 ms by default) with no new event, but never later than a maximum delay (10 s) after the first.
import type { Clock, TimerHandle } from './clock.ts';

export interface DebounceOptions {
  quietMs: number;
  maxMs: number;
  clock: Clock;
  /** Called once per burst with how many events it coalesced and how long the first one waited. */
  onFire: (events: number, waitedMs: number) => void;
}

export class Debouncer {
  #opts: DebounceOptions;
  #timer: TimerHandle | undefined;
  #firstAt = 0;
  #events = 0;
  #closed = false;

  constructor(opts: DebounceOptions) {
    this.#opts = opts;
  }

  /** Records one event; the burst fires after the quiet period or at the maximum delay. */
  trigger(): void {
    if (this.#closed) return;
    const now = this.#opts.clock.now();
    if (this.#events === 0) this.#firstAt = now;
    this.#events++;
    this.#timer?.cancel();
    const deadline = Math.min(now + this.#opts.quietMs, this.#firstAt + this.#opts.maxMs);
    this.#timer = this.#opts.clock.setTimer(() => this.flush(), Math.max(0, deadline - now));
  }

  /** Fires the pending burst now (no-op when nothing is pending). */
  flush(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#events === 0) return;
    const events = this.#events;
    const waited = this.#opts.clock.now() - this.#firstAt;
    this.#events = 0;
    this.#opts.onFire(events, waited);
  }

  get pending(): boolean {
    return this.#events > 0;
  }

  cancel(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#events = 0;
  }

  /** Cancels, and ignores every later event: what a shutdown still causes (streams closing) fires nothing. */
  close(): void {
    this.#closed = true;
    this.cancel();
  }
}
