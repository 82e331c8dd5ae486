// `logs` names the control plane as the seed's README does (`kubectl logs -n istio-system
// deployment/istiod`), and a name it does not know points at the control plane's own name too;
// `logs -f` follows a log as `kubectl logs -f` does, until Ctrl-C.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

test('logs -f (and --follow --proxy) prints the log, then each line as it is written, until Ctrl-C', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-logs-follow-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logs = path.join(dir, 'logs');
  mkdirSync(logs);
  const app = path.join(logs, 'app.log');
  const proxy = path.join(logs, 'proxy.log');
  writeFileSync(app, 'app 1\napp 2\n');
  writeFileSync(proxy, 'proxy 1\n');
  // Owned by this test process: the mesh runs while it does.
  const state = meshState([component('podinfo/podinfo-stable-0', 'workload', { logFile: app, proxyLogFile: proxy })], { startedAt: new Date().toISOString() });
  writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state));
  const bin = path.join(import.meta.dirname, '../../bin/outrigger.mjs');
  const env = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', OUTRIGGER_FROM_SOURCE: '1' };
  for (const [args, file, printed, more] of [
    [['-f', '--tail', '1'], app, 'app 2\n', 'app 3\n'],
    [['--follow', '--proxy'], proxy, 'proxy 1\n', 'proxy 2\n'],
  ] as const) {
    const child = spawn(process.execPath, [bin, 'logs', '--dir', dir, ...args, 'podinfo-stable-0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    let err = '';
    const printedMore = new EventEmitter();
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      printedMore.emit('data');
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    // A logs that ended (a refused flag) fails at once, not at the deadline.
    const endedEarly = (code: number | null) => printedMore.emit('error', new Error(`logs ${args.join(' ')} exited ${code}: ${JSON.stringify(out)} ${err}`));
    child.once('exit', endedEarly);
    const until = async (tail: string) => {
      const signal = AbortSignal.timeout(30_000);
      while (!out.endsWith(tail)) await once(printedMore, 'data', { signal });
    };
    await until(printed);
    appendFileSync(file, more);
    await until(more);
    child.off('exit', endedEarly);
    const exited = once(child, 'exit');
    child.kill('SIGINT');
    const [code] = await exited;
    assert.deepEqual([code, out, err], [0, `${printed}${more}`, ''], args.join(' '));
  }
});
