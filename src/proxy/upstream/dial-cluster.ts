// A byte stream to one endpoint a cluster picks (direct, or through the mesh tunnel): how side calls
// such as an ext_authz check reach their service by cluster name.
import type { Duplex } from 'node:stream';
import type { ClusterManager } from '../cluster/cluster-manager.ts';
import { connectStream } from './connect-stream.ts';
import { UpstreamError } from './upstream.ts';

/** A dialed stream, and whether what it was dialed with still holds. */
export interface DialedStream extends Duplex {
  /**
   * True once the cluster is gone or replaced, its endpoint left it, or an update changed how it
   * connects (TLS, secure naming, the plaintext marker): a caller keeping the stream (an ext_authz
   * session) should dial again, as the cluster's own connections are closed then.
   */
  readonly stale?: () => boolean;
}

/** `signal` abandons the dial: a connect or TLS handshake under way is closed (see connectStream). */
export function dialCluster(clusters: ClusterManager, name: string, signal?: AbortSignal): Promise<DialedStream> {
  const cluster = clusters.get(name);
  const endpoint = cluster?.pick();
  if (!cluster || !endpoint) return Promise.reject(new UpstreamError('connect', `no healthy endpoint in cluster ${name}`));
  const generation = cluster.generation;
  const stale = () => clusters.get(name) !== cluster || cluster.generation !== generation;
  return connectStream(cluster, endpoint, signal).then((stream) => Object.assign(stream, { stale }));
}
