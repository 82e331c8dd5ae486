// A byte stream to one endpoint a cluster picks (direct, or through the mesh tunnel): how side calls
// such as an ext_authz check reach their service by cluster name.
import type { Duplex } from 'node:stream';
import type { ClusterManager } from '../cluster/cluster-manager.ts';
import { connectStream } from './connect-stream.ts';
import { UpstreamError } from './upstream.ts';

export function dialCluster(clusters: ClusterManager, name: string): Promise<Duplex> {
  const cluster = clusters.get(name);
  const endpoint = cluster?.pick();
  if (!cluster || !endpoint) return Promise.reject(new UpstreamError('connect', `no healthy endpoint in cluster ${name}`));
  return connectStream(cluster, endpoint);
}
