// `outrigger down` after the `up` that owned the mesh died (SIGKILL): the processes it left are stopped
// with what they started, not just themselves.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { isAlive, meshMarker, readState, writeState } from '../runtime/state.ts';
import { component, meshState } from '../../test/mesh-state-fixture.ts';
import { main } from './main.ts';
import { running, until } from '../../test/process-wait.ts';



/** The pid of a process that has exited: the `up` that died. */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => p.once('exit', r));
  return p.pid as number;
}

test('down stops what a dead up left, and what those processes started (a shell\'s sleep)', { skip: !existsSync('/proc/self/environ') }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-down-left-'));
  const pidFile = path.join(dir, 'sleep.pid');
  // An app as Supervised starts it: its own process group, the mesh's marker in its environment.
  const app = spawn('/bin/sh', ['-c', `sleep 600 & echo $! > ${pidFile}.tmp; mv ${pidFile}.tmp ${pidFile}; wait`], {
    env: { ...process.env, ...meshMarker(dir) },
    detached: true,
    stdio: 'ignore',
  });
  let sleep = 0;
  try {
    await until('the app\'s sleep', () => existsSync(pidFile));
    sleep = Number(readFileSync(pidFile, 'utf8'));
    writeState(dir, meshState([component('istio-system/mesh-test-runner-0', 'workload', { pid: app.pid as number })], { pid: await deadPid(), startedAt: new Date().toISOString(), marked: true }));
    const log = console.log;
    console.log = () => {};
    try {
      assert.equal(await main(['node', 'outrigger', 'down', '--dir', dir]), 0);
    } finally {
      console.log = log;
    }
    await until('the app gone', () => !running(app.pid as number));
    await until('the sleep it started gone', () => !running(sleep));
  } finally {
    for (const pid of [app.pid, sleep]) {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

/** An app as Supervised starts it (its own group, the mesh's marker), running a shell that runs a sleep. */
async function leftApp(dir: string) {
  const pidFile = path.join(dir, 'sleep.pid');
  const app = spawn('/bin/sh', ['-c', `sleep 600 & echo $! > ${pidFile}.tmp; mv ${pidFile}.tmp ${pidFile}; wait`], { env: { ...process.env, ...meshMarker(dir) }, detached: true, stdio: 'ignore' });
  await until('the app\'s sleep', () => existsSync(pidFile));
  return { app: app.pid as number, sleep: Number(readFileSync(pidFile, 'utf8')) };
}

test('an up killed just before down (its state left behind) does not read as stopped: down stops what it left', { skip: !existsSync('/proc/self/environ') }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-down-died-'));
  // An `up` that dies on SIGTERM without stopping anything, as one SIGKILLed a moment before down looked.
  const up = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => process.exit(137)); setInterval(() => {}, 1000)"], { stdio: 'ignore' });
  const { app, sleep } = await leftApp(dir);
  try {
    writeState(dir, meshState([component('podinfo/podinfo-stable-0', 'workload', { pid: app })], { pid: up.pid as number, startedAt: new Date(Date.now() + 1000).toISOString(), marked: true }));
    const out: string[] = [];
    const log = console.log;
    console.log = (l: string) => out.push(l);
    try {
      assert.equal(await main(['node', 'outrigger', 'down', '--dir', dir]), 0);
    } finally {
      console.log = log;
    }
    assert.match(out.join('\n'), /stopping the 1 process\(es\) it left running/);
    await until('the app gone', () => !running(app));
    await until('its sleep gone', () => !running(sleep));
    assert.equal(readState(dir), undefined);
  } finally {
    for (const pid of [up.pid, app, sleep]) {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an up killed while it is still starting takes what it had started with it', { skip: !existsSync('/proc/self/environ') }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-down-starting-'));
  // An up still starting: it holds the directory, has written no state, ignores SIGTERM (busy), and has
  // started an app (marked, its own group) whose shell runs a sleep.
  const lock = path.join(import.meta.dirname, '..', 'runtime', 'up-lock.ts');
  const up = spawn(process.execPath, ['--input-type=module', '-e', `const { claimMeshDir } = await import(${JSON.stringify(lock)}); claimMeshDir(${JSON.stringify(dir)}); process.on('SIGTERM', () => {}); console.log('claimed'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let left = { app: 0, sleep: 0 };
  try {
    await new Promise<void>((resolve, reject) => {
      up.stdout.once('data', () => resolve());
      up.once('exit', (code) => reject(new Error(`the up exited with ${code}`)));
    });
    left = await leftApp(dir);
    const log = console.log;
    const said: string[] = [];
    console.log = (line: string) => said.push(line);
    try {
      // --timeout 0: no grace, straight to the kill.
      assert.equal(await main(['node', 'outrigger', 'down', '--dir', dir, '--timeout', '0']), 1);
    } finally {
      console.log = log;
    }
    await until('the up gone', () => !running(up.pid as number));
    await until('the app it started gone', () => !running(left.app));
    await until('the sleep the app started gone', () => !running(left.sleep));
    // The app and its sleep both carry the marker (a child inherits its parent's environment).
    const killed = said.find((l) => l.startsWith('killed '));
    assert.match(killed ?? '', /^killed 2 process\(es\) it had started \(\d+, \d+\)$/, said.join('\n'));
    assert.deepEqual(
      (killed?.match(/\d+/g) ?? []).slice(1).map(Number).sort(),
      [left.app, left.sleep].sort(),
    );
  } finally {
    for (const pid of [up.pid, left.app, left.sleep]) {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    process.exitCode = 0;
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the mesh's marked processes never include the process asking, nor the shell it runs in", { skip: !existsSync('/proc/self/environ') }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-down-marked-'));
  const sibling = await leftApp(dir);
  // A shell with the marker (opened in one of the mesh's processes, say), in which a process asks.
  const state = path.join(import.meta.dirname, '..', 'runtime', 'state.ts');
  const ask = `const { markedProcesses } = await import(${JSON.stringify(state)}); console.log(JSON.stringify({ self: process.pid, parent: process.ppid, marked: markedProcesses(${JSON.stringify(dir)}) }));`;
  const shell = spawn('/bin/sh', ['-c', `${JSON.stringify(process.execPath)} --input-type=module -e '${ask.replace(/'/g, "'\\''")}'; echo done`], { env: { ...process.env, ...meshMarker(dir) }, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    shell.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await new Promise((r) => shell.once('exit', r));
    const seen = JSON.parse(out.split('\n')[0] ?? '{}') as { self: number; parent: number; marked: number[] };
    assert.equal(seen.parent, shell.pid, 'it ran in the marked shell');
    assert.ok(!seen.marked.includes(seen.self), 'not itself');
    assert.ok(!seen.marked.includes(seen.parent), 'not the shell it runs in');
    assert.ok(seen.marked.includes(sibling.app) && seen.marked.includes(sibling.sleep), `the mesh's own: ${JSON.stringify(seen)}`);
    assert.match(out, /\ndone\n$/);
  } finally {
    for (const pid of [sibling.app, sibling.sleep]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a zombie is not alive: killed, it only waits for a parent that does not reap it', { skip: !existsSync('/proc/self/stat') }, async () => {
  // The shell becomes a sleep that never reaps its child, which exits after that: a child that exited
  // at once could be reaped by the shell before its exec (seen on a loaded machine).
  const parent = spawn('/bin/sh', ['-c', 'sleep 1 & echo $!; exec sleep 600'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const pid = Number(await new Promise<string>((r) => parent.stdout.once('data', (c: Buffer) => r(c.toString()))));
  try {
    await until('the child a zombie', () => /^\S+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'latin1')));
    assert.equal(isAlive(pid), false);
    assert.equal(isAlive(parent.pid as number), true);
  } finally {
    parent.kill('SIGKILL');
  }
});
