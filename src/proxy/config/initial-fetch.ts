// The initial fetch of the resources one xDS type's watches name (RDS for listeners, EDS for clusters):
// Envoy warms a listener or cluster, and is not ready, until each has arrived or its wait has ended.

/** Envoy's default `initial_fetch_timeout`, for a config source that sets none. */
export const INITIAL_FETCH_TIMEOUT_MS = 15_000;

/** A config source's initial_fetch_timeout as a wait: absent, Envoy's default; 0, no timeout. */
export function fetchWaitMs(timeoutMs: number | undefined): number {
  if (timeoutMs === undefined) return INITIAL_FETCH_TIMEOUT_MS;
  return timeoutMs === 0 ? Number.POSITIVE_INFINITY : timeoutMs;
}

export class InitialFetch {
  #now: () => number;
  #watched = new Set<string>();
  /** Names awaited: when the wait started and how long it lasts. */
  #waits = new Map<string, { since: number; waitMs: number }>();

  constructor(now: () => number) {
    this.#now = now;
  }

  /**
   * The names watched now, each with its wait (fetchWaitMs). One newly watched that is not `held` yet
   * starts its wait (Envoy's subscription starts its initial fetch timer); one no longer watched ends it.
   */
  watch(names: ReadonlyMap<string, number>, held: (name: string) => boolean): void {
    const now = this.#now();
    for (const name of this.#waits.keys()) if (!names.has(name)) this.#waits.delete(name);
    for (const [name, waitMs] of names) {
      if (!this.#watched.has(name) && !held(name)) this.#waits.set(name, { since: now, waitMs });
    }
    this.#watched = new Set(names.keys());
  }

  arrived(names: Iterable<string>): void {
    for (const name of names) this.#waits.delete(name);
  }

  /** An update of the type was refused: Envoy's onConfigUpdateFailed readies every watch's init target. */
  refused(): void {
    this.#waits.clear();
  }

  /** Whether every name watched has arrived, or its wait has ended. */
  warm(): boolean {
    const now = this.#now();
    for (const w of this.#waits.values()) if (now - w.since < w.waitMs) return false;
    return true;
  }
}
