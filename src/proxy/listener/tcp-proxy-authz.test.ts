// tcp_proxy's meter around a network ext_authz check that fails outright (the check itself throws, not
// an answer from the provider): the connection fails closed and is counted and logged as refused, with
// UAEX and `ext_authz_error`, as Envoy's filter reports an error. The provider path is in
// test/telemetry/tcp-refused.test.ts and tcp-authz-client-left.test.ts, over real sockets.
import assert from 'node:assert/strict';
import { duplexPair } from 'node:stream';
import { test } from 'node:test';
import type { ClusterManager } from '../cluster/cluster-manager.ts';
import type { TcpConnectionStats, TcpUpstreamOutcome } from '../filters/network-stats.ts';
import type { ConnectionInfo } from '../http/stream.ts';
import type { TcpChain } from './compile-listener.ts';
import { serveTcp } from './tcp-proxy.ts';

test('a network ext_authz check that fails outright closes the connection, counted and logged as UAEX ext_authz_error', async () => {
  const seen: (TcpUpstreamOutcome | 'closed')[] = [];
  const meter: TcpConnectionStats = { upstream: (o) => seen.push(o), received() {}, sent() {}, close: () => seen.push('closed') };
  const chain: TcpChain = {
    kind: 'tcp',
    statPrefix: 'inbound_0.0.0.0_5435',
    pickCluster: () => 'inbound|5435||',
    authz: [{ kind: 'ext_authz', extAuthz: { check: () => Promise.reject(new Error('no such provider cluster')) } }],
    stats: { begin: () => meter },
  };
  const [downstream, client] = duplexPair();
  const closed = new Promise((r) => downstream.once('close', r));
  serveTcp({} as ClusterManager, chain, downstream, {} as ConnectionInfo, () => 0);
  await closed;
  client.destroy();
  assert.deepEqual(seen, [
    { clusterName: 'inbound|5435||', upstreamHost: undefined, upstreamWorkload: undefined, upstreamPeer: undefined, flags: '-', upstreamTransportFailureReason: undefined, flagsAfterClose: 'UAEX', responseCodeDetails: 'ext_authz_error' },
    'closed',
  ]);
});
