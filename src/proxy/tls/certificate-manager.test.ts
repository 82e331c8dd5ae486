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
