// The CLI against a standalone `outrigger control-plane`, which writes no mesh state: `--control-plane
// ADDRESS` reaches it from any directory; without the flag, proxy-status and proxy-config look for the
// mesh here as `status` does, and say none is running rather than ask whatever holds a default port.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const root = path.join(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/outrigger.mjs');
const env = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', OUTRIGGER_FROM_SOURCE: '1' };

test('proxy-status and proxy-config: --control-plane reaches a standalone control plane; without it, no mesh here is said as status says it', async (t) => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'or-cp-standalone-'));
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  const cp = spawn(process.execPath, [bin, 'control-plane', '-f', path.join(root, 'examples/seed'), '--xds-port', '0', '--debug-port', '0'], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env });
  t.after(() => {
    if (cp.exitCode === null) cp.kill('SIGKILL');
  });
  let log = '';
  const debug = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      log += d.toString();
      const m = /control plane: xDS \S+, debug http:\/\/(127\.0\.0\.1:\d+)/.exec(log);
      if (m) resolve(m[1] as string);
    };
    cp.stdout.on('data', onData);
    cp.stderr.on('data', onData);
    cp.once('exit', (code, signal) => reject(new Error(`control plane exited (${code ?? signal}):\n${log}`)));
  });
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd, env, encoding: 'utf8' });

  const table = run('proxy-status', '--control-plane', `http://${debug}`);
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /^NAME\s+CDS\s+LDS\s+EDS\s+RDS\s+SDS\s+VERSION$/m);
  const config = run('proxy-config', 'cluster', 'nothing-0.shop', '--control-plane', debug);
  assert.deepEqual([config.status, config.stderr], [1, 'outrigger proxy-config: no connected proxy matches "nothing-0.shop"; known: none\n']);

  const noMesh = `no mesh is running here (no ${path.join(cwd, '.outrigger')}/state.json); start one with: outrigger up -f DIR, or give the --dir of a mesh started with one\n`;
  for (const args of [['status'], ['proxy-status'], ['proxy-config', 'cluster', 'nothing-0.shop']]) {
    const r = run(...args);
    assert.deepEqual([r.status, r.stderr], [1, `outrigger ${args[0]}: ${noMesh}`], args.join(' '));
  }
  cp.kill('SIGTERM');
  assert.equal(await new Promise((resolve) => cp.once('exit', resolve)), 0);
});
