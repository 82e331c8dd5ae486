// A provider timeout past setTimeout's 2^31-1 ms (an Istio duration of 25 days) is waited out, not
// turned by Node into 1 ms, which failed every export at once.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { realDeadlineTimers } from './deadline-timers.ts';
import { providerSender } from './provider-sender.ts';

test('a timeout of 2^31 ms does not overflow: no TimeoutOverflowWarning, and an export answered at once is taken', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const handle = realDeadlineTimers.setTimeout(() => assert.fail('fired'), 2 ** 31);
  realDeadlineTimers.clearTimeout(handle);
  const collector = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end());
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const { port } = collector.address() as AddressInfo;
  try {
    const sender = providerSender({ name: 'z', kind: 'zipkin', service: '127.0.0.1', port, timeout_ms: 2 ** 31 }, { env: {} });
    assert.equal(await sender.send({ serviceName: 'web.shop', resource: {}, spans: [] }), true);
    // Warnings are emitted on the next tick.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(warnings, []);
  } finally {
    collector.close();
  }
});
