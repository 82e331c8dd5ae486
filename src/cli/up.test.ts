// `up --ephemeral-ports` beside an explicit port flag: the explicit port wins, the rest are picked free;
// port flags that are not ports are refused before anything starts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { effectivePorts, preparedLine, type UpOptions } from './up.ts';

const defaults: UpOptions = { file: ['x'], ingressPort: 8080, httpsPort: 8443, xdsPort: 15010, debugPort: 15014, dashboardPort: 20001, mode: 'process', proxyProcesses: 'shared' };

test('effectivePorts: --ephemeral-ports frees every port flag not given on the command line', () => {
  assert.deepEqual(effectivePorts(defaults, () => false), defaults, 'without --ephemeral-ports nothing changes');
  const all = effectivePorts({ ...defaults, ephemeralPorts: true }, () => false);
  assert.deepEqual([all.ingressPort, all.httpsPort, all.xdsPort, all.debugPort, all.dashboardPort], [0, 0, 0, 0, 0]);
  const one = effectivePorts({ ...defaults, ephemeralPorts: true, ingressPort: 9080 }, (flag) => flag === 'ingressPort');
  assert.deepEqual([one.ingressPort, one.httpsPort, one.xdsPort, one.debugPort, one.dashboardPort], [9080, 0, 0, 0, 0]);
});

test('up --ephemeral-ports --ingress-port P keeps P: a P another process holds stops the start, naming the flag', async () => {
  const held = net.createServer();
  await new Promise<void>((r) => held.listen(0, '0.0.0.0', r));
  const port = (held.address() as net.AddressInfo).port;
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-up-ports-'));
  writeFileSync(path.join(dir, 'vs.yaml'), 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs, namespace: default}\nspec:\n  hosts: [vs]\n  http:\n    - route: [{destination: {host: vs}}]\n');
  const bin = path.resolve(import.meta.dirname, '../../bin/outrigger.mjs');
  const child = spawn(process.execPath, [bin, 'up', '-f', dir, '--ephemeral-ports', '--ingress-port', String(port), '--dir', path.join(dir, 'state')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  // Were the port ignored, a mesh would start and run until stopped: bounded, then stopped.
  const stop = setTimeout(() => child.kill('SIGTERM'), 60_000);
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  clearTimeout(stop);
  held.close();
  rmSync(dir, { recursive: true, force: true });
  assert.equal(code, 1, out);
  assert.match(out, new RegExp(`^outrigger up: port ${port} is already in use.* \\(--ingress-port\\); free it or choose another port with --ingress-port$`, 'm'));
  assert.doesNotMatch(out, /control plane: starting/, 'nothing started');
  // The order the runtime stops in (docs/local-mode.md, "Lifecycle"), as said while it does.
  assert.match(out, /stopping: the apps, then draining the sidecars and gateways, then the control plane$/m);
});

test('up: a port flag that is not a port is refused when parsed', async () => {
  const { main } = await import('./main.ts');
  const err: string[] = [];
  const writeErr = process.stderr.write;
  process.stderr.write = ((c: string) => err.push(String(c)) > 0) as typeof process.stderr.write;
  try {
    assert.equal(await main(['node', 'outrigger', 'up', '-f', 'nowhere', '--ingress-port', 'abc']), 64);
    assert.equal(await main(['node', 'outrigger', 'up', '-f', 'nowhere', '--xds-port', '70000']), 64);
  } finally {
    process.stderr.write = writeErr;
  }
  assert.match(err.join(''), /--ingress-port <port>' argument 'abc' is invalid\. must be a port number, 0 to 65535/);
  assert.match(err.join(''), /--xds-port <port>' argument '70000' is invalid/);
});

/** main's exit code and what it wrote to stderr (commander's errors and main's one line both go there). */
async function runMain(args: readonly string[]): Promise<{ code: number; err: string }> {
  const { main } = await import('./main.ts');
  const err: string[] = [];
  const writeErr = process.stderr.write;
  process.stderr.write = ((c: string) => err.push(String(c)) > 0) as typeof process.stderr.write;
  try {
    return { code: await main(['node', 'outrigger', ...args]), err: err.join('') };
  } finally {
    process.stderr.write = writeErr;
  }
}

test('up: a wrong command line exits 64 with one line naming the flag, before anything is read or started', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-up-usage-'));
  const file = path.join(dir, 'a-file');
  writeFileSync(file, '');
  try {
    const cases: [string[], RegExp][] = [
      [['--mode', 'vm'], /^error: option '--mode <mode>' argument 'vm' is invalid\. Allowed choices are process, netns\.\n/],
      [['--proxy-processes', 'each'], /^error: option '--proxy-processes <how>' argument 'each' is invalid\. Allowed choices are shared, per-proxy\.\n/],
      [['--dir', file], new RegExp(`^outrigger up: --dir ${file}: not a directory\\n$`)],
    ];
    for (const [flags, message] of cases) {
      const r = await runMain(['up', '-f', dir, ...flags]);
      assert.deepEqual([r.code, r.err.match(message) !== null], [64, true], `${flags.join(' ')}: ${r.err}`);
    }
    const missing = path.join(dir, 'nowhere');
    const r = await runMain(['up', '-f', dir, missing, '--dir', path.join(dir, 'state')]);
    assert.equal(r.code, 64, r.err);
    assert.equal(r.err, `outrigger up: -f ${missing}: no such file or directory\n`, 'one line, not an OR1007 diagnostic and a summary');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** `up` as a person runs it, its output collected; `ready` resolves once it says the mesh is ready, or exits. */
function startUp(config: string, stateDir: string) {
  const bin = path.resolve(import.meta.dirname, '../../bin/outrigger.mjs');
  const child = spawn(process.execPath, [bin, 'up', '-f', config, '--ephemeral-ports', '--dir', stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let code: number | null | undefined;
  const exited = new Promise<void>((r) =>
    child.once('exit', (c) => {
      code = c;
      r();
    }),
  );
  const ready = new Promise<void>((resolve) => {
    for (const s of [child.stdout, child.stderr]) {
      s.on('data', (c: Buffer) => {
        out += c.toString();
        if (/^mesh ready in/m.test(out)) resolve();
      });
    }
    void exited.then(resolve);
  });
  return { child, ready, exited, out: () => out, code: () => code };
}

test('two ups started together in one state directory: one runs the mesh, the other is refused, and the state stays the running one\'s', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-up-twice-'));
  writeFileSync(path.join(dir, 'vs.yaml'), 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs, namespace: default}\nspec:\n  hosts: [vs]\n  http:\n    - route: [{destination: {host: vs}}]\n');
  const state = path.join(dir, 'state');
  const ups = [startUp(dir, state), startUp(dir, state)];
  try {
    await Promise.all(ups.map((u) => u.ready));
    const refused = ups.filter((u) => u.code() === 1);
    const running = ups.filter((u) => u.code() === undefined);
    assert.equal(refused.length, 1, ups.map((u) => u.out()).join('\n----\n'));
    assert.equal(running.length, 1, ups.map((u) => u.out()).join('\n----\n'));
    assert.match(refused[0]?.out() ?? '', /^outrigger up: a mesh is already (starting|running) here \(pid \d+/m);
    const { readState } = await import('../runtime/state.ts');
    assert.equal(readState(state)?.pid, running[0]?.child.pid, 'state.json names the mesh that runs');
    running[0]?.child.kill('SIGTERM');
    await running[0]?.exited;
    assert.equal(readState(state), undefined, 'and is gone once it stops');
  } finally {
    for (const u of ups) if (u.code() === undefined) u.child.kill('SIGTERM');
    await Promise.all(ups.map((u) => u.exited));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the JavaScript copy line agrees in number: 1 file, 2 files', () => {
  assert.equal(preparedLine(1, '/x'), 'prepared 1 JavaScript file for the mesh processes in /x');
  assert.equal(preparedLine(2, '/x'), 'prepared 2 JavaScript files for the mesh processes in /x');
});
