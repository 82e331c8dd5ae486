// A manual clock for resilience tests: the proxy's timers run only when the test advances time, so
// back-off, per-try timeouts and ejection intervals are driven by counts, never by waiting.
export class FakeClock {
  #now = 0;
  #seq = 0;
  #timers = new Map<number, { at: number; fn: () => void }>();

  now = (): number => this.#now;

  set = (fn: () => void, ms: number): unknown => {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  };

  clear = (handle: unknown): void => {
    this.#timers.delete(handle as number);
  };

  /** Timers armed and not yet fired. */
  get pending(): number {
    return this.#timers.size;
  }

  /** When the earliest armed timer is due (undefined when none is armed). */
  get nextDue(): number | undefined {
    let at: number | undefined;
    for (const t of this.#timers.values()) if (at === undefined || t.at < at) at = t.at;
    return at;
  }

  /** Moves time forward, firing due timers in order (timers they arm fire too when due). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (let guard = 0; guard < 10_000; guard++) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.#timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
    }
    this.#now = end;
  }
}

/** Waits (bounded: about 15 s of I/O on a loaded machine) until `cond` holds; throws with `what` if it never does. */
export async function until(cond: () => boolean, what: string, maxTurns = 3000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`never happened: ${what}`);
}

/**
 * Awaits a request whose retry back-offs wait on `clock`. Only a timer due within `horizonMs` is
 * fired (a back-off: 25 to 250 ms in Envoy), never one further out: a per-try timeout of a try still
 * on the wire, or the connect timeout (1 s in the harness's clusters) of a connection still being
 * made, must not fire because real I/O was slow on a loaded machine.
 */
export async function advanceUntilSettled<T>(clock: FakeClock, pending: Promise<T>, what: string, horizonMs = 500): Promise<T> {
  let done = false;
  const settled = pending.finally(() => {
    done = true;
  });
  await until(() => {
    const due = clock.nextDue;
    if (due !== undefined && due - clock.now() <= horizonMs) clock.advance(due - clock.now());
    return done;
  }, what);
  return settled;
}
