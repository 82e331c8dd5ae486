// The CLI defines only the command it runs, and the name table stays true to what each module defines.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Command } from 'commander';
import { component, meshState } from '../../test/mesh-state-fixture.ts';
import { isAlive, MESH_DIR_ENV } from '../runtime/state.ts';
import { commandsFor, main } from './main.ts';

const argv = (...args: string[]) => ['node', 'outrigger', ...args];

async function defined(loaders: ReturnType<typeof commandsFor>): Promise<string[]> {
  const program = new Command('outrigger');
  for (const load of loaders) (await load()).define(program);
  return program.commands.map((c) => c.name());
}

test('a named command loads that command module alone', async () => {
  assert.deepEqual(await defined(commandsFor(argv('proxy', '--role', 'sidecar'))), ['proxy']);
  assert.deepEqual(await defined(commandsFor(argv('proxy-host', '--spec', 'x'))), ['proxy-host']);
  assert.deepEqual(await defined(commandsFor(argv('tls-check'))), ['tls-check']);
});

test('help, no command or an unknown one loads every command, each module defining the name it is listed under', async () => {
  const all = await defined(commandsFor(argv()));
  assert.equal(all.length, 16);
  assert.deepEqual(await defined(commandsFor(argv('--help'))), all);
  assert.deepEqual(await defined(commandsFor(argv('help', 'up'))), all);
  assert.deepEqual(await defined(commandsFor(argv('prxy'))), all);
  assert.deepEqual(await defined(commandsFor(argv('toString'))), all);
  for (const name of all) assert.deepEqual(await defined(commandsFor(argv(name))), [name], `the module listed as ${name}`);
});

test('a mistake the person can fix is one line on stderr and exit 1, not a stack trace', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-'));
  const state = meshState([component('podinfo/podinfo-stable-0', 'workload')]);
  writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state));
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => written.push(String(chunk)) > 0) as typeof process.stderr.write;
  try {
    // The seed README's own target: the seed has no Deployment named podinfo.
    assert.equal(await main(argv('exec', '--dir', dir, '-n', 'podinfo', 'deploy/podinfo', '--', 'true')), 1);
    assert.equal(await main(argv('logs', '--dir', path.join(dir, 'none'), 'podinfo-stable-0')), 1);
  } finally {
    process.stderr.write = write;
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(written.length, 2, written.join(''));
  assert.match(written[0] ?? '', /^outrigger exec: no workload podinfo\/podinfo in the running mesh; known: podinfo\/podinfo-stable-0\n$/);
  assert.match(written[1] ?? '', /^outrigger logs: no mesh is running here \(no .*state\.json\); start one with: outrigger up -f DIR --dir \S+\/none\n$/);
});

test("logs: the control plane's log is up's, a gateway's is its proxy's, and bad values are refused", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-logs-'));
  mkdirSync(path.join(dir, 'logs'));
  writeFileSync(path.join(dir, 'logs', 'up.log'), 'control plane line\n');
  writeFileSync(path.join(dir, 'logs', 'gw.proxy.log'), 'gateway line\n');
  writeFileSync(path.join(dir, 'logs', 'app.log'), 'app line\n');
  writeFileSync(path.join(dir, 'logs', 'app.proxy.log'), 'sidecar line\n');
  const state = meshState(
    [
      component('control-plane', 'control-plane'),
      component('istio-system/istio-ingressgateway', 'gateway', { proxyLogFile: path.join(dir, 'logs', 'gw.proxy.log') }),
      component('podinfo/podinfo-stable-0', 'workload', { logFile: path.join(dir, 'logs', 'app.log'), proxyLogFile: path.join(dir, 'logs', 'app.proxy.log') }),
    ],
    { startedAt: new Date().toISOString() },
  );

  writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state));
  const out: string[] = [];
  const err: string[] = [];
  const [write, writeErr] = [process.stdout.write, process.stderr.write];
  process.stdout.write = ((c: string) => out.push(String(c)) > 0) as typeof process.stdout.write;
  process.stderr.write = ((c: string) => err.push(String(c)) > 0) as typeof process.stderr.write;
  try {
    assert.equal(await main(argv('logs', '--dir', dir, 'control-plane')), 0);
    assert.equal(await main(argv('logs', '--dir', dir, '-n', 'istio-system', 'istio-ingressgateway')), 0);
    // kubectl's `-c istio-proxy` is the sidecar; another container name is the app.
    assert.equal(await main(argv('logs', '--dir', dir, '-n', 'podinfo', 'podinfo-stable-0', '-c', 'istio-proxy')), 0);
    assert.equal(await main(argv('logs', '--dir', dir, '-n', 'podinfo', 'podinfo-stable-0', '-c', 'podinfo')), 0);
    // Values the flags do not take: usage errors (64, as istioctl's).
    assert.equal(await main(argv('logs', '--dir', dir, 'control-plane', '--tail', 'abc')), 64);
    assert.equal(await main(argv('status', '--dir', dir, '-o', 'yaml')), 64);
    // An up.log older than this mesh was left by an earlier `up -d`: not this control plane's.
      utimesSync(path.join(dir, 'logs', 'up.log'), new Date(2020, 0, 1), new Date(2020, 0, 1));
    assert.equal(await main(argv('logs', '--dir', dir, 'control-plane')), 1);
  } finally {
    [process.stdout.write, process.stderr.write] = [write, writeErr];
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(out, ['control plane line\n', 'gateway line\n', 'sidecar line\n', 'app line\n']);
  assert.match(err.join(''), /--tail <lines>' argument 'abc' is invalid/);
  assert.match(err.join(''), /argument 'yaml' is invalid\. Allowed choices are text, json/);
  assert.match(err.join(''), /the control plane logs to the terminal where this mesh's `up` runs/);
});

/** A workload with no command and no built-in program: `up` stops at it before anything starts. */
const UNRUNNABLE = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: reviews, namespace: default}\nspec:\n  selector: {matchLabels: {app: reviews}}\n  template:\n    metadata: {labels: {app: reviews}}\n    spec:\n      containers:\n        - name: reviews\n          image: docker.io/istio/examples-bookinfo-reviews-v1:1.18.0\n';

/**
 * Runs `up` on `yaml` (which must hold something that stops the start) and returns what it printed to
 * stderr, its exit code and whether a state file appeared.
 */
async function upThatStops(yaml: string): Promise<{ code: number; err: string[]; file: string; started: boolean }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-up-'));
  const file = path.join(dir, 'app.yaml');
  writeFileSync(file, yaml);
  const err: string[] = [];
  const writeErr = console.error;
  console.error = (line: string) => void err.push(line);
  try {
    const code = await main(argv('up', '-f', file, '--dir', path.join(dir, 'state'), '--ephemeral-ports'));
    return { code, err, file, started: existsSync(path.join(dir, 'state', 'state.json')) };
  } finally {
    console.error = writeErr;
    // up's action sets the process's exit code, as the binary needs: not this test process's.
    process.exitCode = 0;
    rmSync(dir, { recursive: true, force: true });
  }
}

test('up: a workload that cannot run locally is reported at its line before anything starts', async () => {
  const { code, err, file, started } = await upThatStops(UNRUNNABLE);
  assert.equal(code, 1);
  assert.match(err[0] ?? '', new RegExp(`^${file.replaceAll('.', '\\.')}:10:11: error Deployment default/reviews: container reviews \\(image [^)]+\\) has no command and no built-in program`));
  assert.equal(err[1], 'outrigger up: 1 workload(s) cannot run locally; nothing was started');
  assert.equal(started, false, 'nothing started');
});

test("a mesh whose up was killed (its pid since reused): status says what it left running, up refuses, down stops only the mesh's own", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-orphans-'));
  const idle = (env: NodeJS.ProcessEnv) => spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { env, stdio: 'ignore' });
  // One process of the mesh (it carries the marker), and one that merely holds recorded pids: the
  // up's, as after a reboot, and a component's.
  const ours = idle({ ...process.env, [MESH_DIR_ENV]: dir });
  const stranger = idle({ ...process.env });
  await Promise.all([once(ours, 'spawn'), once(stranger, 'spawn')]);
  const state = meshState([component('podinfo/podinfo-stable-0', 'workload', { pid: ours.pid as number }), component('podinfo/podinfo-canary-0', 'workload', { pid: stranger.pid as number })], {
    pid: stranger.pid as number,
    startedAt: '2020-01-01T00:00:00.000Z',
    marked: true,
  });
  writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state));
  const err: string[] = [];
  const out: string[] = [];
  const [writeErr, log, error] = [process.stderr.write, console.log, console.error];
  process.stderr.write = ((c: string) => err.push(String(c)) > 0) as typeof process.stderr.write;
  console.error = (line: string) => void err.push(line);
  console.log = (line: string) => void out.push(line);
  try {
    assert.equal(await main(argv('status', '--dir', dir)), 1);
    assert.match(err.join('\n'), new RegExp(`1 of its processes are still running \\(${ours.pid}\\): stop them with outrigger down --dir ${dir.replaceAll('.', '\\.')}`));
    assert.equal(await main(argv('up', '-f', dir, '--dir', dir)), 1);
    assert.match(err.join('\n'), /died and left 1 process\(es\) running/);
    process.exitCode = 0;
    const exited = once(ours, 'exit');
    assert.equal(await main(argv('down', '--dir', dir, '--timeout', '5')), 0, `${out.join('\n')}\n${err.join('\n')}`);
    await exited;
    assert.equal(isAlive(stranger.pid as number), true, 'a process that is not the mesh keeps running');
    assert.equal(existsSync(path.join(dir, 'state.json')), false);
    assert.match(out.join('\n'), /stopping the 1 process\(es\) it left running/);
  } finally {
    [process.stderr.write, console.log, console.error] = [writeErr, log, error];
    process.exitCode = 0;
    ours.kill('SIGKILL');
    stranger.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a state written before processes were marked: down kills nothing, names the pids, keeps the state', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-unmarked-'));
  const stranger = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await once(stranger, 'spawn');
  const pid = stranger.pid as number;
  writeFileSync(path.join(dir, 'state.json'), JSON.stringify(meshState([component('podinfo/podinfo-stable-0', 'workload', { pid })], { pid, startedAt: '2020-01-01T00:00:00.000Z' })));
  const out: string[] = [];
  const log = console.log;
  console.log = (line: string) => void out.push(line);
  try {
    assert.equal(await main(argv('down', '--dir', dir, '--timeout', '1')), 1);
    assert.equal(isAlive(pid), true);
    assert.equal(existsSync(path.join(dir, 'state.json')), true);
    assert.match(out.join('\n'), new RegExp(`started by an older Outrigger\\); recorded pids still alive: ${pid}`));
  } finally {
    console.log = log;
    process.exitCode = 0;
    stranger.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('down: a --timeout that is not a number of seconds is refused before anything is stopped', async () => {
  const err: string[] = [];
  const writeErr = process.stderr.write;
  process.stderr.write = ((c: string) => err.push(String(c)) > 0) as typeof process.stderr.write;
  try {
    for (const bad of ['abc', '-5', '']) assert.equal(await main(argv('down', '--dir', tmpdir(), '--timeout', bad)), 64, bad);
  } finally {
    process.stderr.write = writeErr;
  }
  assert.equal(err.filter((l) => /--timeout <seconds>' argument .* is invalid\. must be a number of seconds, 0 or more/.test(l)).length, 3);
});

test('a reader that stops early (`| head`) ends the command quietly: exit 0, no stack', async () => {
  const bin = path.resolve(import.meta.dirname, '../../bin/outrigger.mjs');
  // 3,000 misspelt kinds: over half a megabyte of diagnostics, more than a pipe holds.
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-epipe-'));
  const file = path.join(dir, 'many.yaml');
  writeFileSync(file, Array.from({ length: 3000 }, (_, i) => `apiVersion: networking.istio.io/v1\nkind: VirtualServce\nmetadata: {name: vs${i}, namespace: default}\nspec: {}\n`).join('---\n'));
  const child = spawn(process.execPath, [bin, 'analyze', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  // Read one chunk, then close the pipe, as `head -c 1` does.
  await once(child.stdout, 'data');
  child.stdout.destroy();
  const [code] = (await once(child, 'exit')) as [number | null];
  rmSync(dir, { recursive: true, force: true });
  // analyze exits 1 on errors (0 if the pipe closed before it knew); what matters is no crash: no stack.
  assert.ok(code === 0 || code === 1, `exit ${code}: ${stderr}`);
  assert.doesNotMatch(stderr, /EPIPE|Error:|at /);
});

test("up: what istioctl analyze would report (a route to a host nothing defines) is shown before the start", async () => {
  // The unrunnable workload stops the start right after the findings are shown: nothing starts here.
  const vs = 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs, namespace: default}\nspec:\n  hosts: [reviews]\n  http:\n    - route: [{destination: {host: nowhere}}]\n';
  const { code, err } = await upThatStops(`${vs}---\n${UNRUNNABLE}`);
  assert.equal(code, 1);
  assert.match(err.join('\n'), /error IST0101 VirtualService default\/vs: .*nowhere/);
  assert.ok(err.includes("outrigger up: 1 analyzer finding(s), as `outrigger analyze` reports them; starting anyway"), err.join('\n'));
});

test("exit codes are istioctl's: 64 for any wrong command line, parser's or a command's own check; 1 for a failure; 0 for help", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-exit-'));
  const out: string[] = [];
  const write = { out: process.stdout.write, err: process.stderr.write };
  process.stdout.write = ((c: string) => out.push(String(c)) > 0) as typeof process.stdout.write;
  process.stderr.write = ((c: string) => out.push(String(c)) > 0) as typeof process.stderr.write;
  const run = async (...args: string[]) => {
    process.exitCode = 0;
    try {
      return await main(argv(...args));
    } finally {
      process.exitCode = 0;
    }
  };
  try {
    // The argument parser's findings.
    assert.equal(await run('prxy-status'), 64, 'unknown command');
    assert.equal(await run('proxy-status', '--no-such-flag'), 64, 'unknown option');
    assert.equal(await run('proxy-config', 'cluster'), 64, 'missing argument');
    assert.equal(await run('proxy-status', '-o', 'xml'), 64, 'a value the flag does not take');
    assert.equal(await run('logs', '--tail', '0', 'x'), 64, "an option's own parser refusing the value");
    // The commands' own checks of their command line.
    assert.equal(await run('proxy-config', 'bootstrap', 'x', '--control-plane', '127.0.0.1:1'), 64, 'a kind proxy-config does not have');
    assert.equal(await run('analyze', '-o', 'xml', '-f', dir), 64);
    assert.equal(await run('explain', '--from', 'a', '--to', 'not a url', '-f', dir), 64);
    // Failures: the command line was fine.
    assert.equal(await run('status', '--dir', path.join(dir, 'none')), 1, 'no mesh running there');
    assert.equal(await run('proxy-status', '--control-plane', '127.0.0.1:1'), 1, 'no control plane answers');
    assert.equal(await run('proxy-status', '--help'), 0);
    assert.equal(await run('--version'), 0);
    assert.equal(await run(), 0, 'no command: the help, as istioctl alone prints it');
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(out.some((l) => l.includes("unknown option '--no-such-flag'")), out.join(''));
});
