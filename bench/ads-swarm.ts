// Simulated proxies for the control-plane bench: N real ADS clients (src/xds/ads-client.ts) in this
// process, each decoding and ACKing what it gets. Talks to its parent over IPC: reports when all are
// synced, and after each `mark`, each client's last ACK time (performance.timeOrigin-based, ms).
import type { AdsSubscriber } from '../src/xds/ads-client.ts';
import { AdsClient } from '../src/xds/ads-client.ts';
import { TypeUrl } from '../src/xds/type-urls.ts';

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
        subscriber: namingSubscriber(),
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

/**
 * Asks for what Envoy asks for: CDS and LDS by wildcard, then the EDS names of its EDS clusters, the
 * route configurations and SDS secrets its clusters and listeners name (an empty list of the others is
 * an unsubscribe, not a wildcard).
 */
function namingSubscriber(): AdsSubscriber {
  const fromClusters = { eds: [] as string[], sds: [] as string[] };
  const fromListeners = { rds: [] as string[], sds: [] as string[] };
  return {
    apply: (typeUrl, resources) => {
      if (typeUrl === TypeUrl.Cluster) {
        fromClusters.eds = resources.filter((c) => c['type'] === 'EDS').map((c) => String((c['eds_cluster_config'] as { service_name?: string } | undefined)?.service_name ?? c['name']));
        fromClusters.sds = collect(resources, 'sds');
      } else if (typeUrl === TypeUrl.Listener) {
        fromListeners.rds = collect(resources, 'rds');
        fromListeners.sds = collect(resources, 'sds');
      }
    },
    resourceNames: (typeUrl) => {
      if (typeUrl === TypeUrl.ClusterLoadAssignment) return fromClusters.eds;
      if (typeUrl === TypeUrl.RouteConfiguration) return fromListeners.rds;
      if (typeUrl === TypeUrl.Secret) return [...new Set([...fromClusters.sds, ...fromListeners.sds])];
      return undefined;
    },
  };
}

/** The route configuration names (`rds.route_config_name`) or SDS secret names (`{ name, sds_config }`) anywhere in `resources`. */
function collect(resources: readonly unknown[], what: 'rds' | 'sds'): string[] {
  const out = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const x of v) walk(x);
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    const o = v as Record<string, unknown>;
    if (what === 'rds' && typeof o['route_config_name'] === 'string' && 'config_source' in o) out.add(o['route_config_name']);
    if (what === 'sds' && typeof o['name'] === 'string' && 'sds_config' in o) out.add(o['name']);
    for (const x of Object.values(o)) walk(x);
  };
  walk(resources);
  return [...out].sort();
}

if (import.meta.main) {
  process.once('message', (m: SwarmCommand) => {
    if (m.kind === 'start') run(m.address, m.proxies);
  });
}
