// The service graph: workload and service nodes, edges source workload → service → destination
// workload, each labelled with its rates, error ratio and latency over the window, coloured by health.
import type { MeshSnapshot } from '../model/snapshot.ts';
import type { AdsConnection } from '../xds/ads-server.ts';
import { meshWorkloads, serviceId, workloadId, workloadOf } from './mesh-nodes.ts';
import type { EdgeDelta, Interval } from './traffic-history.ts';
import { type Health, healthOf, type TrafficStats, trafficStats } from './traffic-stats.ts';

export interface GraphNode {
  id: string;
  kind: 'service' | 'workload' | 'unknown';
  name: string;
  namespace: string;
  app?: string;
  version?: string;
  /** Workloads: instances known and ready; services: endpoints. */
  instances?: number;
  healthyInstances?: number;
  sidecar?: boolean;
  /** Traffic into the node over the window; health falls back to its outbound traffic when it has none. */
  stats: TrafficStats;
  health: Health;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  protocol: string;
  stats: TrafficStats;
  health: Health;
}

export interface ServiceGraph {
  /** Clock time of the newest scrape (ms), and the seconds the rates are taken over. */
  at: number | null;
  windowSeconds: number;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

const isUnknown = (ns: string, name: string): boolean => name === 'unknown' || ns === 'unknown';

export function buildGraph(snapshot: MeshSnapshot, connections: readonly AdsConnection[], interval: Interval | undefined): ServiceGraph {
  const seconds = interval?.seconds ?? 0;
  const nodeTraffic = new Map<string, EdgeDelta[]>();
  const nodeOutbound = new Map<string, EdgeDelta[]>();
  const edgeTraffic = new Map<string, { source: string; target: string; protocol: string; deltas: EdgeDelta[] }>();
  const nodes = new Map<string, Omit<GraphNode, 'stats' | 'health'>>();

  for (const [id, w] of meshWorkloads(snapshot, connections)) nodes.set(id, { id, kind: 'workload', ...w });
  for (const s of snapshot.services) {
    const id = serviceId(s.namespace, s.name);
    const eps = snapshot.endpointsByService.get(`${s.namespace}/${s.hostname}`) ?? [];
    nodes.set(id, { id, kind: 'service', name: s.name, namespace: s.namespace, instances: eps.length, healthyInstances: eps.filter((e) => e.healthy).length });
    // Idle edges from each service to the workloads it selects, so the graph has a shape before traffic.
    for (const ep of eps) {
      const target = workloadId(ep.namespace, workloadOf(ep));
      edgeTraffic.set(`${id}>${target}`, { source: id, target, protocol: s.ports[0]?.protocol === 'TCP' ? 'tcp' : 'http', deltas: [] });
    }
  }

  const addEdge = (source: string, target: string, d: EdgeDelta) => {
    const id = `${source}>${target}`;
    let e = edgeTraffic.get(id);
    if (!e) {
      e = { source, target, protocol: d.protocol, deltas: [] };
      edgeTraffic.set(id, e);
    }
    if (d.requests > 0 || d.protocol === 'tcp') e.protocol = d.protocol;
    e.deltas.push(d);
  };
  const ensure = (id: string, kind: GraphNode['kind'], namespace: string, name: string, app?: string, version?: string) => {
    if (nodes.has(id)) return;
    const n: Omit<GraphNode, 'stats' | 'health'> = { id, kind, name, namespace };
    if (app && app !== 'unknown') n.app = app;
    if (version && version !== 'unknown') n.version = version;
    nodes.set(id, n);
  };
  const traffic = (id: string, d: EdgeDelta, into = nodeTraffic) => {
    const list = into.get(id);
    if (list) list.push(d);
    else into.set(id, [d]);
  };

  for (const d of interval?.edges ?? []) {
    const i = d.identity;
    const src = isUnknown(i.sourceNamespace, i.sourceWorkload) ? 'unknown' : workloadId(i.sourceNamespace, i.sourceWorkload);
    if (src === 'unknown') ensure(src, 'unknown', 'unknown', 'unknown');
    else ensure(src, 'workload', i.sourceNamespace, i.sourceWorkload, i.sourceApp, i.sourceVersion);
    const svc = serviceId(i.serviceNamespace, i.serviceName);
    ensure(svc, 'service', i.serviceNamespace, i.serviceName);
    addEdge(src, svc, d);
    traffic(svc, d);
    traffic(src, d, nodeOutbound);
    if (!isUnknown(i.destinationNamespace, i.destinationWorkload)) {
      const dst = workloadId(i.destinationNamespace, i.destinationWorkload);
      ensure(dst, 'workload', i.destinationNamespace, i.destinationWorkload, i.destinationApp, i.destinationVersion);
      addEdge(svc, dst, d);
      traffic(dst, d);
    }
  }

  const graphNodes = [...nodes.values()]
    .map((n) => {
      const stats = trafficStats(nodeTraffic.get(n.id) ?? [], seconds);
      // A caller without inbound traffic (a gateway, a client) is judged by what it sends.
      const health = healthOf(stats);
      return { ...n, stats, health: health === 'idle' ? healthOf(trafficStats(nodeOutbound.get(n.id) ?? [], seconds)) : health };
    })
    .sort((a, b) => a.id.localeCompare(b.id));
  const graphEdges = [...edgeTraffic.entries()]
    .filter(([, e]) => nodes.has(e.source) && nodes.has(e.target))
    .map(([id, e]) => {
      const stats = trafficStats(e.deltas, seconds);
      return { id, source: e.source, target: e.target, protocol: e.protocol, stats, health: healthOf(stats) };
    })
    .sort((a, b) => a.id.localeCompare(b.id));
  return { at: interval?.to ?? null, windowSeconds: Math.round(seconds), nodes: graphNodes, edges: graphEdges };
}
