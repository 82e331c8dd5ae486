// `tls-check WORKLOAD` names the client proxy as proxy-status and proxy-config do: `pod.namespace`, a
// node id or a prefix, and also `deploy/NAME` or `pod/NAME` with -n, or `NAMESPACE/POD`.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { meshState } from '../../test/mesh-state-fixture.ts';
import { main } from './main.ts';

test('tls-check: deploy/NAME -n NS, pod/NAME -n NS and NS/POD read the config pushed to pod NAME-0.NS', async () => {
  const asked: string[] = [];
  const server = http.createServer((req, res) => {
    asked.push(new URL(req.url ?? '/', 'http://x').searchParams.get('proxyID') ?? '');
    res.setHeader('content-type', 'application/json');
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-tls-check-'));
  const debugAddress = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  writeFileSync(path.join(dir, 'state.json'), JSON.stringify(meshState([], { controlPlane: { xdsAddress: '', debugAddress } })));
  const [log, error] = [console.log, console.error];
  const err: string[] = [];
  console.log = () => {};
  console.error = (line: string) => void err.push(line);
  const codes: number[] = [];
  try {
    codes.push(await main(['node', 'outrigger', 'tls-check', '--dir', dir, '-n', 'podinfo', 'deploy/podinfo-stable']));
    codes.push(await main(['node', 'outrigger', 'tls-check', '--dir', dir, '--namespace', 'podinfo', 'pod/podinfo-stable-0']));
    codes.push(await main(['node', 'outrigger', 'tls-check', '--dir', dir, 'podinfo/podinfo-stable-0']));
    // istioctl's own form goes through as it is.
    codes.push(await main(['node', 'outrigger', 'tls-check', '--dir', dir, 'podinfo-stable-0.podinfo']));
  } finally {
    [console.log, console.error] = [log, error];
    process.exitCode = 0;
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(err, []);
  assert.deepEqual(codes, [0, 0, 0, 0]);
  assert.deepEqual(asked, ['podinfo-stable-0.podinfo', 'podinfo-stable-0.podinfo', 'podinfo-stable-0.podinfo', 'podinfo-stable-0.podinfo']);
});
