// An app joins its services' endpoints only once it listens: until then a request routed to it would
// fail. Readiness here is a TCP connect to each of its ports, polled briefly; an app that never listens
// is still registered after the deadline, with a warning, so a slow app cannot stop the mesh starting.
import net from 'node:net';
import type { Supervised } from './supervisor.ts';

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(500);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}

/** Resolves true once every port accepts a connection, false at the deadline or if the app is done. */
export async function waitListening(host: string, ports: readonly number[], app: Supervised, timeoutMs = 30_000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  let done = false;
  const onDone = () => {
    done = true;
  };
  app.once('done', onDone);
  try {
    for (const port of ports) {
      while (!(await accepts(host, port))) {
        if (done || Date.now() > until) return false;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    return true;
  } finally {
    app.off('done', onDone);
  }
}
