// A TCP chain: its authorization filters (network RBAC, ext_authz), then the tcp_proxy network filter:
// pick a cluster and endpoint, open a raw stream (direct or through the tunnel) and splice. Every
// connect, made or failed, goes to outlier detection. Connect
// failures close the downstream (Envoy's UF for TCP), and so does a cluster at its max_connections
// (UO): each connection holds one of the cluster's connection slots until it closes. A stats filter in front (istio.stats) sees the
// connection from its start: it is told how the upstream went, or that the connection was refused, and
// meters the bytes each way, chunk by chunk.
import type { Duplex } from 'node:stream';
import type { ClusterManager } from '../cluster/cluster-manager.ts';
import { hasExtAuthz, type NetworkAuthzOutcome, runNetworkAuthz } from '../filters/network-authz.ts';
import type { NetworkAuthzStats } from '../filters/network-authz-stats.ts';
import type { TcpConnectionStats, TcpUpstreamOutcome } from '../filters/network-stats.ts';
import { realTimers, type Timers } from '../http/router.ts';
import type { ConnectionInfo } from '../http/stream.ts';
import { connectPeerOf } from '../upstream/h2-connection.ts';
import { connectStream, splice } from '../upstream/connect-stream.ts';
import { dialCluster } from '../upstream/dial-cluster.ts';
import { isConnectTimeout } from '../upstream/upstream.ts';
import type { TcpChain } from './compile-listener.ts';

/** One connection (or tunnelled stream) on a TCP chain: authorization first, then tcp_proxy. */
export function serveTcp(clusters: ClusterManager, chain: TcpChain, downstream: Duplex, connection: ConnectionInfo, random: () => number, authzStats?: NetworkAuthzStats, timers: Timers = realTimers): void {
  downstream.on('error', () => {});
  // Istio's stats filter watches the connection from its start, so a refused one is counted and logged.
  const meter = chain.stats?.begin(connection);
  // The connection's dynamic metadata, which its authorization filters write (an AUDIT match's
  // access_log_hint) and its access log reads: a map only where there are filters to write it.
  const metadata = chain.authz.length > 0 ? new Map<string, Record<string, unknown>>() : undefined;
  const decide = (v: NetworkAuthzOutcome): void => {
    if (!v.allowed) {
      if (meter) refused(meter, chain.pickCluster(random()), v, written(metadata));
      downstream.destroy();
      return;
    }
    // Gone before a check could let it through: counted and logged as it closed, as below.
    if (downstream.destroyed) return void (meter && refused(meter, chain.pickCluster(random()), undefined, written(metadata)));
    proxyTcp(clusters, chain, downstream, connection, random, meter, timers, written(metadata));
  };
  // Only a chain with ext_authz can have a check to cancel.
  const checks = hasExtAuthz(chain.authz) ? new AbortController() : undefined;
  const verdict = runNetworkAuthz(chain.authz, connection, (name, signal) => dialCluster(clusters, name, signal), authzStats, checks?.signal, timers, metadata);
  if (!(verdict instanceof Promise)) return void decide(verdict);
  // An ext_authz check is out: hold the client's bytes until it answers.
  downstream.pause();
  let pending = true;
  // The client leaves first: Envoy's ext_authz cancels its check (the call is reset, so the provider
  // sees it cancelled), and the connection is counted and logged as it closes, with no upstream and no
  // refusal (whatever the check would have said).
  const left = (): void => {
    if (!pending) return;
    pending = false;
    checks?.abort();
    if (meter) refused(meter, chain.pickCluster(random()), undefined, written(metadata));
    downstream.destroy();
  };
  // A tunnel stream the source reset is `aborted` at once; paused, it closes only when torn down.
  downstream.once('close', left);
  downstream.once('aborted', left);
  const answered = (v: NetworkAuthzOutcome): void => {
    if (!pending) return;
    if (downstream.destroyed) return void left();
    pending = false;
    downstream.removeListener('close', left);
    downstream.removeListener('aborted', left);
    decide(v);
  };
  // A check that failed outright (a fault of ours, not an answer) fails closed, as Envoy's on an error.
  verdict.then(answered, () => answered(CHECK_FAILED));
}

const CHECK_FAILED: NetworkAuthzOutcome = Object.freeze({ allowed: false, details: 'ext_authz_error', deniedBy: 'ext_authz' });

type DynamicMetadata = ReadonlyMap<string, Readonly<Record<string, unknown>>>;

/** The connection's metadata for its log, when a filter wrote any. */
function written(metadata: DynamicMetadata | undefined): DynamicMetadata | undefined {
  return metadata !== undefined && metadata.size > 0 ? metadata : undefined;
}

/**
 * A connection the authorization filters refused (`v`), or whose client closed it while a check was out
 * (no `v`), as Envoy reports it: opened and closed on the series of tcp_proxy's cluster (Envoy's
 * tcp_proxy has chosen it when the connection opened), no upstream host (Outrigger dials none), no bytes
 * (it decides before reading any). Network RBAC sets no response flag, only the connection termination
 * details. Network ext_authz closes the connection, which Istio's stats filter counts at once, then sets
 * `UAEX` and its response code details, which only the access log (written when the connection is gone)
 * sees. A client that left first gets neither: its check was cancelled, not answered.
 */
function refused(meter: TcpConnectionStats, clusterName: string, v: NetworkAuthzOutcome | undefined, metadata: DynamicMetadata | undefined): void {
  const details: Partial<TcpUpstreamOutcome> = v === undefined ? {} : v.deniedBy === 'rbac' ? { connectionTerminationDetails: v.details } : { flagsAfterClose: 'UAEX', responseCodeDetails: v.details };
  failed(meter, clusterName, undefined, undefined, '-', undefined, metadata ? { ...details, dynamicMetadata: metadata } : details);
}

/** `connection`'s local address and port are the original destination, for ORIGINAL_DST clusters. */
function proxyTcp(clusters: ClusterManager, chain: TcpChain, downstream: Duplex, connection: ConnectionInfo, random: () => number, meter: TcpConnectionStats | undefined, timers: Timers, metadata: DynamicMetadata | undefined): void {
  // The metadata as every failed outcome below carries it to the log: an object only when there is metadata.
  const md = metadata ? { dynamicMetadata: metadata } : undefined;
  const clusterName = chain.pickCluster(random());
  const cluster = clusters.get(clusterName);
  if (!cluster) {
    // Envoy's NC (no such cluster): the connection opens and closes at once.
    if (meter) failed(meter, clusterName, undefined, undefined, 'NC', undefined, md);
    downstream.destroy();
    return;
  }
  // An ORIGINAL_DST cluster sweeps its unused hosts on TCP use too, on the listener's clock (as forward() gives HTTP's).
  cluster.useTimers(timers);
  cluster.sweepUnused();
  // As Envoy's tcp_proxy, max_connections is checked before a host is picked ("the TCP conn pool will
  // queue our request waiting for a connection that will never be released"): past it, UO and
  // upstream_cx_overflow, and the downstream closes (onInitFailure ResourceLimitExceeded).
  const slot = cluster.acquireConnection();
  if (!slot) {
    if (meter) failed(meter, clusterName, undefined, undefined, 'UO', undefined, md);
    downstream.destroy();
    return;
  }
  const endpoint =
    cluster.settings.type === 'ORIGINAL_DST'
      ? { key: `${connection.localAddress}:${connection.localPort}`, address: connection.localAddress, port: connection.localPort, mesh: false, targetPort: connection.localPort, workload: undefined }
      : cluster.pick();
  if (!endpoint) {
    // Envoy's UH (no healthy endpoint): the connection opens and closes at once.
    cluster.releaseConnection(slot);
    if (meter) failed(meter, clusterName, undefined, undefined, 'UH', undefined, md);
    downstream.destroy();
    return;
  }
  downstream.pause();
  const stats = cluster.stats;
  stats.upstream_cx_total.inc();
  connectStream(cluster, endpoint).then(
    (upstream) => {
      // tcp_proxy's onUpstreamConnection: nothing above TCP follows, so this success is final.
      cluster.reportResult(endpoint.key, 'connect-success-final');
      stats.upstream_cx_active.inc();
      if (meter) {
        const upstreamPeer = connectPeerOf(upstream);
        meter.upstream({ clusterName, upstreamHost: endpoint.key, upstreamWorkload: endpoint.workload, upstreamPeer, upstreamPrincipal: upstreamPeer === undefined ? undefined : cluster.verifiedPeer(endpoint), upstreamTls: cluster.meshTls(endpoint), flags: '-', upstreamTransportFailureReason: undefined, dynamicMetadata: metadata });
        count(meter, downstream, upstream);
      }
      splice(downstream, upstream, () => {
        stats.upstream_cx_active.dec();
        // The upstream connection is gone: its slot under max_connections is free.
        cluster.releaseConnection(slot);
        meter?.close();
      });
      if (chain.idleTimeoutMs) closeWhenIdle(downstream, upstream, chain.idleTimeoutMs, timers);
      downstream.resume();
    },
    (err: Error) => {
      cluster.releaseConnection(slot);
      stats.upstream_cx_connect_fail.inc();
      // As Envoy's tcp_proxy: a connect timeout is LocalOriginTimeout (a 504 without the local-origin
      // split), any other failure LocalOriginConnectFailed (a 503).
      const timedOut = isConnectTimeout(err);
      if (timedOut) stats.upstream_cx_connect_timeout.inc();
      cluster.reportResult(endpoint.key, timedOut ? 'timeout' : 'connect-failed');
      if (meter) failed(meter, clusterName, endpoint.key, endpoint.workload, 'UF', err.message, md);
      downstream.destroy();
    },
  );
}

/**
 * tcp_proxy's idle timeout, as Envoy's: no byte read from either side for `ms` closes both (Envoy's
 * default 1 h). Without it a silent client, or a peer gone without a FIN, held both sockets for good.
 * One timer per connection, re-armed for what is left of the period when it fires after activity.
 */
function closeWhenIdle(a: Duplex, b: Duplex, ms: number, timers: Timers): void {
  const now = timers.now ? () => (timers.now as () => number)() : () => performance.now();
  let last = now();
  const touch = (): void => {
    last = now();
  };
  a.on('data', touch);
  b.on('data', touch);
  let handle: unknown;
  const check = (): void => {
    handle = undefined;
    if (a.destroyed && b.destroyed) return;
    const idle = now() - last;
    if (idle >= ms) {
      a.destroy();
      b.destroy();
      return;
    }
    handle = timers.set(check, ms - idle);
  };
  handle = timers.set(check, ms);
  const stop = (): void => {
    if (!(a.destroyed && b.destroyed)) return;
    if (handle !== undefined) timers.clear(handle);
    handle = undefined;
  };
  a.once('close', stop);
  b.once('close', stop);
}

/** Bytes each way, as they flow: the downstream's reads are received, the upstream's (written to it) sent. */
function count(meter: TcpConnectionStats, downstream: Duplex, upstream: Duplex): void {
  downstream.on('data', (chunk: Buffer) => meter.received(chunk.length));
  upstream.on('data', (chunk: Buffer) => meter.sent(chunk.length));
}

function failed(meter: TcpConnectionStats, clusterName: string, upstreamHost: string | undefined, upstreamWorkload: string | undefined, flags: string, reason: string | undefined, details?: Partial<TcpUpstreamOutcome>): void {
  meter.upstream({ clusterName, upstreamHost, upstreamWorkload, upstreamPeer: undefined, flags, upstreamTransportFailureReason: reason, ...details });
  meter.close();
}
