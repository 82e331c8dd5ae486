// The workload certificate manager when the CA cannot be reached: retries, and never ends the process.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { CertificateAuthority } from '../../ca/certificate-authority.ts';
import { ManualTimers } from '../../../test/identity/mesh-tls-harness.ts';
import { CertificateManager } from './certificate-manager.ts';


test('before the first certificate, a failed retry is reported, not an unhandled rejection that ends the process', async () => {
  const ca = await CertificateAuthority.ephemeral();
  const id = 'spiffe://cluster.local/ns/podinfo/sa/podinfo';
  let reachable = false;
  const timers = new ManualTimers();
  const certs = new CertificateManager({
    spiffeId: id,
    clock: timers,
    random: () => 1,
    sign: (csrPem, ttl) => (reachable ? ca.sign(csrPem, { namespace: 'podinfo', serviceAccount: 'podinfo' }, ttl) : Promise.reject(new Error('connect ECONNREFUSED'))),
  });
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const failures: Error[] = [];
  certs.on('renewal-failed', (err: Error) => failures.push(err));
  try {
    await assert.rejects(certs.start(), /ECONNREFUSED/);
    // The retries the timer runs fail the same way while the CA is down.
    for (let i = 0; i < 3; i++) {
      const failed = once(certs, 'renewal-failed');
      timers.fireNext();
      await failed;
    }
    assert.equal(failures.length, 4);
    reachable = true;
    const rotated = once(certs, 'rotated');
    timers.fireNext();
    await rotated;
    assert.equal(certs.current?.spiffeId, id);
    // Unhandled rejections are reported after the microtask queue drains: give them a turn.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    certs.stop();
  }
});

test("renewal is Istio's: the grace ratio is the share of the lifetime left before expiry, with a jitter of up to ±0.01", async () => {
  const ca = await CertificateAuthority.ephemeral();
  const id = 'spiffe://cluster.local/ns/podinfo/sa/podinfo';
  const hour = 3_600_000;
  /** The delay of the renewal timer after the first certificate, with `draws` as the random numbers. */
  const renewalDelay = async (graceRatio: number | undefined, draws: number[]): Promise<number> => {
    const start = Date.now();
    const delays: number[] = [];
    const certs = new CertificateManager({
      spiffeId: id,
      ...(graceRatio !== undefined ? { graceRatio } : {}),
      clock: {
        now: () => start,
        setTimer: (_fn, ms) => {
          delays.push(ms);
          return { cancel() {} };
        },
      },
      random: () => draws.shift() ?? 0,
      sign: (csrPem, ttl) => ca.sign(csrPem, { namespace: 'podinfo', serviceAccount: 'podinfo' }, ttl),
    });
    await certs.start();
    certs.stop();
    // The CA stamps notAfter in whole seconds from its own clock: the lifetime is 24 h to within a second.
    const lifetime = (certs.current as { notAfter: Date }).notAfter.getTime() - start;
    assert.ok(Math.abs(lifetime - 24 * hour) < 2000, `lifetime ${lifetime}`);
    assert.equal(delays.length, 1);
    return (delays[0] as number) / lifetime;
  };
  const near = (actual: number, want: number) => assert.ok(Math.abs(actual - want) < 1e-6, `renewal at ${actual} of the lifetime, want ${want}`);
  // The seed's SECRET_GRACE_PERIOD_RATIO 0.75 renews a 24 h certificate after 6 h in Istio, 0.25 after 18 h.
  near(await renewalDelay(0.75, [0, 0]), 0.25);
  near(await renewalDelay(0.25, [0, 0]), 0.75);
  near(await renewalDelay(undefined, [0, 0]), 0.5);
  // The jitter: the first draw its size (up to 0.01), the second its sign.
  near(await renewalDelay(0.5, [1, 0]), 0.51);
  near(await renewalDelay(0.5, [0.5, 0.9]), 0.495);
});
