// The proxy command's argument parsing, and how it reports a port it cannot bind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { parsePortMap } from '../proxy/run-proxy.ts';

test('parses --port-map and rejects malformed entries', () => {
  assert.deepEqual([...parsePortMap('15001=41000, 15008=41002')], [
    [15001, 41000],
    [15008, 41002],
  ]);
  assert.deepEqual([...parsePortMap(undefined)], []);
  assert.throws(() => parsePortMap('15001:41000'), { code: 'PROXY_ARGS' });
});

test('a port another process holds ends the proxy with one line naming it, not a stack', async () => {
  const held = net.createServer();
  await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
  const port = (held.address() as net.AddressInfo).port;
  const bin = path.resolve(import.meta.dirname, '../../bin/outrigger.mjs');
  const args = ['proxy', '--role', 'sidecar', '--xds-address', '127.0.0.1:1', '--node-id', 'sidecar~127.0.0.1~a.default~default.svc.cluster.local', '--port-map', `15000=${port},15001=0,15006=0,15008=0,15021=0,15090=0`];
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  held.close();
  assert.equal(code, 1, out);
  assert.match(out, new RegExp(`^outrigger proxy: 127\\.0\\.0\\.1:${port} is already in use; .*--port-map\\n$`, 'm'));
  assert.doesNotMatch(out, /\n\s+at /, 'no stack trace');
});

test('a --token-file that is not there ends the proxy with one line naming the flag and the file, exit 64 (usage)', async () => {
  const bin = path.resolve(import.meta.dirname, '../../bin/outrigger.mjs');
  const missing = path.join(import.meta.dirname, 'no-such.token');
  const child = spawn(process.execPath, [bin, 'proxy', '--xds-address', '127.0.0.1:1', '--token-file', missing, '--port-map', '15000=0,15001=0,15006=0,15008=0,15021=0,15090=0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.equal(code, 64, out);
  assert.equal(out, `outrigger proxy: --token-file ${missing}: no such file or directory\n`);
});

test('proxy-host: a --spec that is missing or not JSON is named with its flag, not a stack', async () => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { readSpec } = await import('./proxy-host.ts');
  const dir = mkdtempSync(path.join(tmpdir(), 'or-proxy-host-spec-'));
  try {
    writeFileSync(path.join(dir, 'bad.json'), '{bad');
    writeFileSync(path.join(dir, 'null.json'), 'null');
    assert.throws(() => readSpec(path.join(dir, 'none.json')), { code: 'PROXY_HOST_SPEC', message: `--spec ${path.join(dir, 'none.json')}: no such file or directory` });
    assert.throws(() => readSpec(path.join(dir, 'bad.json')), { code: 'PROXY_HOST_SPEC', message: /^--spec .*bad\.json: not JSON: / });
    assert.throws(() => readSpec(path.join(dir, 'null.json')), { code: 'PROXY_HOST_SPEC', message: /null\.json: "proxies" must list at least one proxy$/ });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
