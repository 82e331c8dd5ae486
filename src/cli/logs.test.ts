// `logs` names the control plane as the seed's README does (`kubectl logs -n istio-system
// deployment/istiod`), and a name it does not know points at the control plane's own name too.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { component, meshState } from '../../test/mesh-state-fixture.ts';
import { main } from './main.ts';

const argv = (...args: string[]) => ['node', 'outrigger', ...args];

test("logs: istiod (deployment/istiod in istio-system) is the control plane's log; an unknown name lists control-plane too", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-logs-istiod-'));
  mkdirSync(path.join(dir, 'logs'));
  writeFileSync(path.join(dir, 'logs', 'up.log'), 'control plane line\n');
  writeFileSync(path.join(dir, 'logs', 'app.log'), 'app line\n');
  const state = meshState(
    [component('control-plane', 'control-plane'), component('podinfo/podinfo-stable-0', 'workload', { logFile: path.join(dir, 'logs', 'app.log') })],
    { startedAt: new Date().toISOString() },
  );
  writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state));
  const out: string[] = [];
  const err: string[] = [];
  const [write, writeErr] = [process.stdout.write, process.stderr.write];
  process.stdout.write = ((c: string) => out.push(String(c)) > 0) as typeof process.stdout.write;
  process.stderr.write = ((c: string) => err.push(String(c)) > 0) as typeof process.stderr.write;
  const codes: number[] = [];
  try {
    codes.push(await main(argv('logs', '--dir', dir, '-n', 'istio-system', 'deployment/istiod')));
    codes.push(await main(argv('logs', '--dir', dir, 'istiod')));
    codes.push(await main(argv('logs', '--dir', dir, 'deploy/istiod')));
    codes.push(await main(argv('logs', '--dir', dir, 'istio-system/istiod')));
    // Another namespace's istiod is not this control plane.
    codes.push(await main(argv('logs', '--dir', dir, '-n', 'podinfo', 'istiod')));
  } finally {
    [process.stdout.write, process.stderr.write] = [write, writeErr];
    process.exitCode = 0;
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(codes, [0, 0, 0, 0, 1]);
  assert.deepEqual(out, ['control plane line\n', 'control plane line\n', 'control plane line\n', 'control plane line\n']);
  assert.deepEqual(err, ['outrigger logs: no workload podinfo/istiod in the running mesh; known: podinfo/podinfo-stable-0, and control-plane (istiod)\n']);
});
