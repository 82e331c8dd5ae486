// An app in a pod joins its services only once it listens, as in process mode. Its STRICT ports refuse
// connections from outside the pod, so the probe runs inside the pod's namespace: one short-lived Node
// process that connects to each port on the pod address until all accept, or the deadline passes.
import { runIn } from './system-command.ts';

function probeScript(address: string, ports: readonly number[], timeoutMs: number): string {
  return `const net = require('node:net');
const until = Date.now() + ${timeoutMs};
const accepts = (port) => new Promise((resolve) => {
  const s = net.connect({ host: ${JSON.stringify(address)}, port });
  s.setTimeout(500);
  s.once('connect', () => { s.destroy(); resolve(true); });
  s.once('timeout', () => { s.destroy(); resolve(false); });
  s.once('error', () => resolve(false));
});
(async () => {
  for (const port of ${JSON.stringify(ports)}) {
    while (!(await accepts(port))) {
      if (Date.now() > until) process.exit(1);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
})();`;
}

/** Resolves true once every port accepts a connection on the pod address, false at the deadline. */
export async function waitPodListening(netns: string, nodeBinary: string, address: string, ports: readonly number[], timeoutMs = 30_000): Promise<boolean> {
  if (ports.length === 0) return true;
  try {
    await runIn(netns, nodeBinary, ['-e', probeScript(address, ports, timeoutMs)], { timeoutMs: timeoutMs + 5000 });
    return true;
  } catch {
    return false;
  }
}
