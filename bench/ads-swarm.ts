// Simulated proxies for the control-plane bench: N real ADS clients (src/xds/ads-client.ts) in this
// process, each decoding and ACKing what it gets. Talks to its parent over IPC: reports when all are
// synced, and after each `mark`, each client's last ACK time (performance.timeOrigin-based, ms).
import { AdsClient } from '../src/xds/ads-client.ts';

export interface SwarmProxy {
  id: string;
  token: string;
  metadata: Record<string, unknown>;
}

/** Parent → swarm. The proxy list comes over IPC: it is too long for a command-line argument. */
export type SwarmCommand = { kind: 'start'; address: string; proxies: SwarmProxy[] } | { kind: 'mark'; at: number } | { kind: 'collect'; quietMs: number; everyProxy: boolean } | { kind: 'stop' };

export type SwarmMessage = { kind: 'synced'; count: number } | { kind: 'acks'; lastAckAt: number[] };

const now = () => performance.timeOrigin + performance.now();

function run(address: string, proxies: SwarmProxy[]): void {
  const send = (m: SwarmMessage) => process.send?.(m);
  const acked = proxies.map(() => new Set<string>());
  const lastAck = proxies.map(() => 0);
  let lastEventAt = now();
  let markAt = 0;
  let synced = false;
  const clients = proxies.map(
    (p, i) =>
      new AdsClient({
        address,
        token: p.token,
        ownConnection: true,
        node: { id: p.id, metadata: p.metadata },
        subscriber: { apply: () => {}, resourceNames: () => undefined },
        onEvent: (e) => {
          if (e.kind !== 'ack') return;
          const t = now();
          acked[i]?.add(e.typeUrl);
          if (t >= markAt) lastAck[i] = t;
          lastEventAt = t;
        },
      }),
  );
  for (const c of clients) c.start();
  // Synced: every client has ACKed at least the four core types.
  const poll = setInterval(() => {
    if (!synced && acked.every((s) => s.size >= 4)) {
      synced = true;
      send({ kind: 'synced', count: clients.length });
    }
  }, 20);
  process.on('message', (m: SwarmCommand) => {
    if (m.kind === 'start') return;
    if (m.kind === 'mark') {
      markAt = m.at;
      lastAck.fill(0);
    } else if (m.kind === 'collect') {
      // Wait until ACKs stop arriving (and, with `everyProxy`, every proxy has ACKed since the mark), bounded.
      const until = now() + 60_000;
      const check = () => {
        const quiet = now() - lastEventAt >= m.quietMs && (!m.everyProxy || lastAck.every((t) => t > 0));
        if (quiet || now() > until) send({ kind: 'acks', lastAckAt: [...lastAck] });
        else setTimeout(check, 20);
      };
      check();
    } else {
      clearInterval(poll);
      for (const c of clients) c.stop();
      setTimeout(() => process.exit(0), 100).unref();
    }
  });
}

if (import.meta.main) {
  process.once('message', (m: SwarmCommand) => {
    if (m.kind === 'start') run(m.address, m.proxies);
  });
}
