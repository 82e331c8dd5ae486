// A proxy named as istioctl names one (`deploy/podinfo -n podinfo`) is looked up as its first pod
// (`podinfo-0.podinfo`); when none matches, the error says both, so the name typed is recognisable.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { meshState } from '../../test/mesh-state-fixture.ts';
import { main } from './main.ts';

const known = 'known: podinfo-canary-0.podinfo, podinfo-stable-0.podinfo';

test('proxy-status, proxy-config and tls-check: a name no proxy has is said as typed beside the pod it means', async () => {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    res.setHeader('content-type', 'application/json');
    if (url.pathname === '/debug/syncz') {
      const row = (name: string) => ({ proxy: `sidecar~127.0.0.1~${name}~podinfo.svc.cluster.local`, name, namespace: 'podinfo', types: {} });
      res.end(JSON.stringify([row('podinfo-stable-0.podinfo'), row('podinfo-canary-0.podinfo')]));
      return;
    }
    // The control plane's own answer for a proxy it does not have (sync-report's proxyMatchError).
    res.statusCode = 404;
    res.end(JSON.stringify({ error: `no connected proxy matches "${url.searchParams.get('proxyID')}"; ${known}` }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-proxy-query-'));
  const debugAddress = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  writeFileSync(path.join(dir, 'state.json'), JSON.stringify(meshState([], { controlPlane: { xdsAddress: '', debugAddress } })));
  const err: string[] = [];
  const [writeErr, error] = [process.stderr.write, console.error];
  process.stderr.write = ((c: string) => err.push(String(c)) > 0) as typeof process.stderr.write;
  console.error = (line: string) => void err.push(`${line}\n`);
  const codes: number[] = [];
  try {
    codes.push(await main(['node', 'outrigger', 'proxy-status', '--dir', dir, '-n', 'podinfo', 'deploy/podinfo']));
    codes.push(await main(['node', 'outrigger', 'proxy-config', 'secret', '--dir', dir, '-n', 'podinfo', 'deploy/podinfo']));
    codes.push(await main(['node', 'outrigger', 'tls-check', '--dir', dir, '-n', 'podinfo', 'deploy/podinfo']));
    // A name used as it is needs no gloss.
    codes.push(await main(['node', 'outrigger', 'proxy-status', '--dir', dir, 'ratings-0.bookinfo']));
  } finally {
    [process.stderr.write, console.error] = [writeErr, error];
    process.exitCode = 0;
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(codes, [1, 1, 1, 1]);
  assert.deepEqual(err, [
    `outrigger proxy-status: no connected proxy matches "podinfo-0.podinfo" (deploy/podinfo -n podinfo); ${known}\n`,
    `outrigger proxy-config: no connected proxy matches "podinfo-0.podinfo" (deploy/podinfo -n podinfo); ${known}\n`,
    `outrigger tls-check: no connected proxy matches "podinfo-0.podinfo" (deploy/podinfo -n podinfo); ${known}\n`,
    `outrigger proxy-status: no connected proxy matches "ratings-0.bookinfo"; ${known}\n`,
  ]);
});
