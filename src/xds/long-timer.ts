// Delays longer than a Node timer holds. setTimeout runs a delay above 2^31 - 1 ms (24.8 days), or
// Infinity, after 1 ms (with a TimeoutOverflowWarning), where socket.setTimeout() clamps it.

/** The longest delay a Node timer takes. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `fn` after `ms`, however long, through `set` (real or injected timers) in steps a Node timer can
 * hold; never synchronously. `handle` is the step armed now, for the caller's cancel.
 */
export function longTimer<H>(set: (fn: () => void, ms: number) => H, ms: number, fn: () => void): { handle: H } {
  const t = {} as { handle: H };
  const arm = (left: number): void => {
    t.handle = set(() => (left > MAX_TIMER_MS ? arm(left - MAX_TIMER_MS) : fn()), Math.min(Math.max(0, left), MAX_TIMER_MS));
  };
  arm(ms);
  return t;
}
