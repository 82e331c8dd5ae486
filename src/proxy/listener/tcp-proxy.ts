// The tcp_proxy network filter: pick a cluster and endpoint, open a raw stream (direct or through the
// tunnel) and splice. Connect failures close the downstream (Envoy's UF for TCP). A stats filter in
// front (istio.stats) is told how the upstream went and meters the bytes each way, chunk by chunk.
import type { Duplex } from 'node:stream';
import type { ClusterManager } from '../cluster/cluster-manager.ts';
import type { TcpConnectionStats } from '../filters/network-stats.ts';
import type { ConnectionInfo } from '../http/stream.ts';
import { connectPeerOf } from '../upstream/h2-connection.ts';
import { connectStream, splice } from '../upstream/connect-stream.ts';
import type { TcpChain } from './compile-listener.ts';

/** `connection`'s local address and port are the original destination, for ORIGINAL_DST clusters. */
export function proxyTcp(clusters: ClusterManager, chain: TcpChain, downstream: Duplex, connection: ConnectionInfo, random: () => number): void {
  downstream.on('error', () => {});
  const meter = chain.stats?.begin(connection);
  const clusterName = chain.pickCluster(random());
  const cluster = clusters.get(clusterName);
  const endpoint =
    cluster?.settings.type === 'ORIGINAL_DST'
      ? { key: `${connection.localAddress}:${connection.localPort}`, address: connection.localAddress, port: connection.localPort, mesh: false, targetPort: connection.localPort, workload: undefined }
      : cluster?.pick();
  if (!cluster || !endpoint) {
    // Envoy's NC (no such cluster) and UH (no healthy endpoint): the connection opens and closes at once.
    if (meter) failed(meter, clusterName, undefined, undefined, cluster ? 'UH' : 'NC', undefined);
    downstream.destroy();
    return;
  }
  downstream.pause();
  const stats = cluster.stats;
  stats.upstream_cx_total.inc();
  connectStream(cluster, endpoint).then(
    (upstream) => {
      stats.upstream_cx_active.inc();
      if (meter) {
        const upstreamPeer = connectPeerOf(upstream);
        meter.upstream({ clusterName, upstreamHost: endpoint.key, upstreamWorkload: endpoint.workload, upstreamPeer, upstreamPrincipal: upstreamPeer === undefined ? undefined : cluster.verifiedPeer(endpoint), flags: '-', upstreamTransportFailureReason: undefined });
        count(meter, downstream, upstream);
      }
      splice(downstream, upstream, () => {
        stats.upstream_cx_active.dec();
        meter?.close();
      });
      downstream.resume();
    },
    (err: Error) => {
      stats.upstream_cx_connect_fail.inc();
      if (meter) failed(meter, clusterName, endpoint.key, endpoint.workload, 'UF', err.message);
      downstream.destroy();
    },
  );
}

/** Bytes each way, as they flow: the downstream's reads are received, the upstream's (written to it) sent. */
function count(meter: TcpConnectionStats, downstream: Duplex, upstream: Duplex): void {
  downstream.on('data', (chunk: Buffer) => meter.received(chunk.length));
  upstream.on('data', (chunk: Buffer) => meter.sent(chunk.length));
}

function failed(meter: TcpConnectionStats, clusterName: string, upstreamHost: string | undefined, upstreamWorkload: string | undefined, flags: string, reason: string | undefined): void {
  meter.upstream({ clusterName, upstreamHost, upstreamWorkload, upstreamPeer: undefined, flags, upstreamTransportFailureReason: reason });
  meter.close();
}
