// The client workload (Istio's `sleep` sample): a process that idles until it is told to stop, so that
// `outrigger exec sleep -- curl ...` has a meshed place to run commands from.

/** Resolves when `signal` aborts; holds the event loop open until then. */
export function idle(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    // A timer keeps Node alive; a bare pending promise would let the process exit at once.
    const keepAlive = setInterval(() => {}, 1 << 30);
    signal.addEventListener(
      'abort',
      () => {
        clearInterval(keepAlive);
        resolve();
      },
      { once: true },
    );
  });
}

if (import.meta.main) {
  const stop = new AbortController();
  process.once('SIGTERM', () => stop.abort());
  process.once('SIGINT', () => stop.abort());
  process.stdout.write(`${JSON.stringify({ level: 'info', msg: 'sleep idling', pid: process.pid })}\n`);
  await idle(stop.signal);
}
