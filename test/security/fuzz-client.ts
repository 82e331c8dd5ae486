// The fuzz tests' raw HTTP/1.1 client: writes a case's bytes in the pieces asked for, collects the
// answer, sends FIN once the answers a strict server owes have come (or at once when none is owed), and
// reports a connection still open at the deadline as a hang. The deadline only detects a failure; a
// passing case never waits for it.
import net from 'node:net';
import tls from 'node:tls';
import { parseResponses } from './strict-h1-reference.ts';

export interface Exchange {
  out: Buffer;
  hung: boolean;
  ms: number;
}

/**
 * `to`: a local port, or a function that opens the connection (TLS: written once secure); `owed`:
 * complete responses after which the client is done; `deadlineMs`: a hang when still open then.
 */
export function exchange(to: number | (() => net.Socket), bytes: Buffer, cuts: number[], owed: number, deadlineMs = 4000): Promise<Exchange> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = typeof to === 'number' ? net.connect({ port: to, host: '127.0.0.1', noDelay: true }) : to();
    const parts: Buffer[] = [];
    let written = false;
    let finned = false;
    let hung = false;
    const done = (): boolean => {
      if (!written || finned || socket.destroyed) return false;
      const got = parseResponses(Buffer.concat(parts), { partial: true }).filter((r) => r.complete).length;
      return got >= owed;
    };
    const fin = (): void => {
      if (finned) return;
      finned = true;
      socket.end();
    };
    const timer = setTimeout(() => {
      hung = true;
      socket.destroy();
    }, deadlineMs);
    socket.on('data', (c: Buffer) => {
      parts.push(c);
      try {
        if (done()) fin();
      } catch {
        // A malformed answer: the caller's strict parse reports it; stop waiting.
        fin();
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ out: Buffer.concat(parts), hung, ms: performance.now() - started });
    });
    socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', async () => {
      let at = 0;
      for (const cut of [...cuts, bytes.length]) {
        if (socket.destroyed) return;
        socket.write(bytes.subarray(at, cut));
        at = cut;
        await new Promise((r) => setImmediate(r));
      }
      written = true;
      try {
        if (owed === 0 || done()) fin();
      } catch {
        fin();
      }
    });
  });
}
