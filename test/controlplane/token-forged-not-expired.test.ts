// A refused token is named TOKEN_EXPIRED only when it is ours (its MAC holds) and past its expiry: a
// forged token, or another control plane's, with a past expiry is BAD_TOKEN, so the operator is not
// told to rotate a token that was never valid.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { BootstrapTokens } from '../../src/controlplane/bootstrap-tokens.ts';
import { ManualClock } from '../../src/controlplane/clock.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient, sidecarNode } from './raw-ads-client.ts';

test('a token with a bad MAC is logged BAD_TOKEN whatever expiry its body claims', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'rev-forged-'));
  await writeFile(path.join(dir, 'empty.yaml'), '');
  const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
  const logs: string[] = [];
  const cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', rescanMs: 0, clock, log: (l, m) => logs.push(`${l} ${m}`) });
  t.after(async () => {
    await cp.close();
    await rm(dir, { recursive: true });
  });
  const forged = new BootstrapTokens(Buffer.alloc(32, 9)).issue({ namespace: 'shop', serviceAccount: 'api', workload: 'api' }, clock.now() - 60_000);
  const c = new RawAdsClient(cp.xdsAddress, sidecarNode('shop', 'api-0', 'api', 'api'), forged);
  t.after(() => c.close());
  c.subscribe(TypeUrl.Cluster);
  await c.status;
  const line = logs.find((l) => l.includes('refused ADS stream')) ?? '';
  assert.ok(line.includes('BAD_TOKEN') && !line.includes('TOKEN_EXPIRED'), line);
});
