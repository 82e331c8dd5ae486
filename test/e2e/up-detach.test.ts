// `up -d` says no less than a foreground `up`: what the manifests ask that is not run locally, and where
// the Prometheus configuration for the mesh's alerts is, beside the ingress, dashboard, status and stop.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const bin = path.resolve(import.meta.dirname, '../../bin/outrigger.mjs');

function outrigger(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

test('up -d prints what is not run locally and the alerts configuration, then down stops it', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-up-detach-'));
  const config = path.join(dir, 'config');
  const state = path.join(dir, 'state');
  try {
    mkdirSync(config);
    writeFileSync(path.join(config, 'monitoring.yaml'), 'apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: istiod, namespace: monitoring}\nspec: {selector: {matchLabels: {app: istiod}}}\n');
    const up = await outrigger(['up', '-f', config, '--ephemeral-ports', '--dir', state, '-d']);
    assert.equal(up.code, 0, up.stdout + up.stderr);
    assert.match(up.stdout, /^not run locally \(Outrigger provides the equivalent\): ServiceMonitor monitoring\/istiod$/m);
    assert.match(up.stdout, /^ {2}alerts: {4}prometheus --config\.file=\S+prometheus\.yml /m);
    assert.match(up.stdout, /^mesh running in the background \(pid \d+\)/m);
  } finally {
    if (existsSync(path.join(state, 'state.json'))) await outrigger(['down', '--dir', state, '--timeout', '10']);
    rmSync(dir, { recursive: true, force: true });
  }
});
