// Helpers of the SNI tests (connection-sni, plain-tls-sni): a TCP exchange through a client sidecar's
// outbound port, and polling for what a proxy writes after the fact (its access lines).
import net from 'node:net';

/** Polls until `check` finds something (access lines are written after the response), for at most 10 s. */
export async function until<T>(check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('not within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A TCP connection through the sidecar's outbound port (CONNECT to `authority`): what comes back for `payload` before the close. */
export function tcpExchange(outboundPort: number, authority: string, payload: string): Promise<string> {
  const s = net.connect(outboundPort, '127.0.0.1');
  s.on('error', () => {});
  s.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n\r\n`);
  let seen = '';
  return new Promise((resolve) => {
    let sent = false;
    s.on('data', (c: Buffer) => {
      seen += c.toString('latin1');
      if (!sent && seen.includes('\r\n\r\n')) {
        sent = true;
        seen = seen.slice(seen.indexOf('\r\n\r\n') + 4);
        s.write(payload);
      }
      if (sent && seen.length >= payload.length) s.end();
    });
    s.on('close', () => resolve(seen));
  });
}
