// The one-shot timers an export's deadline runs on: Node's by default, a test's clock in tests (no
// test waits a timeout out).

export interface DeadlineTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * setTimeout's longest delay. Past it Node fires after 1 ms (a TimeoutOverflowWarning), so a provider
 * timeout of 24.9 days or more, which an Istio duration may be, would fail every export at once; Envoy's
 * timer waits it out, as this bound does in practice.
 */
const MAX_DELAY_MS = 2 ** 31 - 1;

export const realDeadlineTimers: DeadlineTimers = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.min(ms, MAX_DELAY_MS));
    // Never what keeps the proxy's process alive.
    t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};
