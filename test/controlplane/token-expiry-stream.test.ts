// A token's expiry ends the ADS stream it opened, at that instant on the control plane's clock: a stream
// opened before the expiry does not go on receiving pushes, its secrets among them.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { ManualClock } from '../../src/controlplane/clock.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient, sidecarNode } from './raw-ads-client.ts';

const deployment = (name: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: shop}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      serviceAccountName: ${name}
      containers: [{name: ${name}, image: x, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: shop}
spec: {selector: {app: ${name}}, ports: [{name: http, port: 80, targetPort: 8080}]}
`;

test('a stream opened with a token that has since expired gets no further config', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'rev-token-'));
  await writeFile(path.join(dir, 'api.yaml'), deployment('api'));
  const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
  const logs: string[] = [];
  const cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', rescanMs: 0, clock, ca: await CertificateAuthority.ephemeral(), log: (_l, m) => logs.push(m), debounce: { quietMs: 1, maxMs: 10 } });
  const token = cp.issueBootstrapToken({ namespace: 'shop', serviceAccount: 'api', workload: 'api' }, clock.now() + 60_000);
  const c = new RawAdsClient(cp.xdsAddress, sidecarNode('shop', 'api-0', 'api', 'api'), token);
  t.after(async () => {
    c.close();
    await cp.close();
    await rm(dir, { recursive: true });
  });
  // A control stream with a token without expiry, to show the push happens.
  const control = new RawAdsClient(cp.xdsAddress, sidecarNode('shop', 'api-1', 'api', 'api'), cp.issueBootstrapToken({ namespace: 'shop', serviceAccount: 'api', workload: 'api' }));
  t.after(() => control.close());
  for (const x of [c, control]) {
    x.subscribe(TypeUrl.Cluster);
    x.ack(await x.next());
  }
  clock.advance(3_600_000); // the token expired an hour ago (by the control plane's clock)
  // The expiry's timer ran on that clock: the stream ends, refused, and the control plane says why.
  assert.equal((await c.status).code, grpc.status.UNAUTHENTICATED);
  assert.ok(
    logs.some((l) => l.includes('TOKEN_EXPIRED token expired at 2030-01-01T00:01:00.000Z on an open stream')),
    logs.join('\n'),
  );
  await writeFile(path.join(dir, 'orders.yaml'), deployment('orders'));
  await cp.rescan();
  // The debounce runs on the clock: move it on, a turn of the event loop each time, until the push is out.
  for (let i = 0; i < 500 && control.queued === 0; i++) {
    clock.advance(1000);
    await new Promise((r) => setImmediate(r));
  }
  const controlGot = await control.next(3000).then((r) => r.version_info, () => undefined);
  assert.ok(controlGot, 'the push happened (the control stream got it)');
  const after = await Promise.race([
    c.next(3000).then((r) => `push ${r.version_info} with ${r.resources?.length} clusters`, () => 'no push'),
    c.status.then((s) => `stream ended ${s.code}`),
  ]);
  assert.equal(after, `stream ended ${grpc.status.UNAUTHENTICATED}`, `a stream whose token expired an hour ago still got: ${after}`);
});
