// The tcp_proxy network filter: pick a cluster and endpoint, open a raw stream (direct or through the
// tunnel) and splice. Connect failures close the downstream (Envoy's UF for TCP).
import type { Duplex } from 'node:stream';
import type { ClusterManager } from '../cluster/cluster-manager.ts';
import { connectStream, splice } from '../upstream/connect-stream.ts';
import type { TcpChain } from './compile-listener.ts';

export interface TcpDestination {
  /** Original destination for ORIGINAL_DST clusters. */
  address: string;
  port: number;
}

export function proxyTcp(clusters: ClusterManager, chain: TcpChain, downstream: Duplex, dst: TcpDestination, random: () => number): void {
  downstream.on('error', () => {});
  const cluster = clusters.get(chain.pickCluster(random()));
  const endpoint =
    cluster?.settings.type === 'ORIGINAL_DST'
      ? { key: `${dst.address}:${dst.port}`, address: dst.address, port: dst.port, mesh: false, targetPort: dst.port }
      : cluster?.pick();
  if (!cluster || !endpoint) {
    downstream.destroy();
    return;
  }
  downstream.pause();
  const stats = cluster.stats;
  stats.upstream_cx_total.inc();
  connectStream(cluster, endpoint).then(
    (upstream) => {
      stats.upstream_cx_active.inc();
      splice(downstream, upstream, () => stats.upstream_cx_active.dec());
      downstream.resume();
    },
    () => {
      stats.upstream_cx_connect_fail.inc();
      downstream.destroy();
    },
  );
}
