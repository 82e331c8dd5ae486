// The network authorization chain: a check cancelled because the client left ends the chain, as Envoy's
// filter never completes after client_->cancel(), even where the check fails open (failure_mode_allow):
// the RBAC filters after it (Istio puts DENY/ALLOW after CUSTOM) neither run nor count. A real HTTP/2
// provider that takes the call and never answers.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { FakeClock, until } from '../../../test/resilience/fake-clock.ts';
import { compileNetworkExtAuthz } from './ext_authz/network-filter.ts';
import { type NetworkAuthzFilter, runNetworkAuthz } from './network-authz.ts';

test('a check cancelled because the client left runs no filter after it, failing open or not', async () => {
  const called = Promise.withResolvers<void>();
  const server = http2.createServer();
  server.on('stream', () => called.resolve());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const dial = () =>
    new Promise<net.Socket>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
    });
  let rbacRuns = 0;
  const rbac = {
    check() {
      rbacRuns++;
      return { allowed: false, details: 'rbac_access_denied_matched_policy[ns[shop]-policy[deny]-rule[0]]' };
    },
  };
  try {
    const extAuthz = compileNetworkExtAuthz({ '@type': 'x', grpc_service: { envoy_grpc: { cluster_name: 'outbound|9000||authz' } }, failure_mode_allow: true });
    const filters = [
      { kind: 'ext_authz', extAuthz },
      { kind: 'rbac', rbac },
    ] as unknown as NetworkAuthzFilter[];
    const checks = new AbortController();
    const verdict = runNetworkAuthz(filters, { remoteAddress: '10.0.0.2', remotePort: 5, localAddress: '10.0.0.1', localPort: 5000, tls: false }, dial, undefined, checks.signal);
    assert.ok(verdict instanceof Promise, 'the check went out');
    await called.promise;
    checks.abort();
    const v = await verdict;
    assert.equal(v.allowed, false, 'nothing is let through');
    assert.equal(rbacRuns, 0, 'no filter after the cancelled check runs or counts');
  } finally {
    server.close();
  }
});

test("a check held past its timeout ends on the chain's timers: the connection is refused (ext_authz_error), the call reset", { timeout: 10_000 }, async () => {
  const streams: http2.ServerHttp2Stream[] = [];
  const server = http2.createServer();
  server.on('stream', (s) => void streams.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const dial = () =>
    new Promise<net.Socket>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
    });
  const clock = new FakeClock();
  try {
    // 60 s: far past the test's bound, so only the injected timers can end the call in time.
    const extAuthz = compileNetworkExtAuthz({ '@type': 'x', grpc_service: { envoy_grpc: { cluster_name: 'outbound|9000||authz' }, timeout: { seconds: '60' } } });
    const filters = [{ kind: 'ext_authz', extAuthz }] as NetworkAuthzFilter[];
    const verdict = runNetworkAuthz(filters, { remoteAddress: '10.0.0.2', remotePort: 5, localAddress: '10.0.0.1', localPort: 5000, tls: false }, dial, undefined, undefined, clock);
    assert.ok(verdict instanceof Promise, 'the check went out');
    await until(() => streams.length === 1, 'the provider holds the call');
    clock.advance(59_999);
    assert.equal(streams[0]!.closed, false, 'the call is still out a millisecond before its timeout');
    clock.advance(1);
    assert.deepEqual(await verdict, { allowed: false, details: 'ext_authz_error', deniedBy: 'ext_authz' });
    await until(() => streams[0]!.closed, 'the timed-out call reset');
  } finally {
    server.close();
  }
});
