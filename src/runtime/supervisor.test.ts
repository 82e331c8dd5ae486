import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { type ExitReport, type Scheduler, Supervised } from './supervisor.ts';
import { running, until } from '../../test/process-wait.ts';

/** A scheduler the test drives by hand: nothing waits for real time. */
function manualScheduler(): Scheduler & { fire(): number; delays: number[] } {
  const queue: (() => void)[] = [];
  const delays: number[] = [];
  return {
    delays,
    setTimeout(fn, ms) {
      queue.push(fn);
      delays.push(ms);
      return { cancel: () => queue.splice(queue.indexOf(fn), 1) };
    },
    fire() {
      const fn = queue.shift();
      fn?.();
      return queue.length;
    },
  };
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'outrigger-sup-'));

test('a crashing process is restarted with doubling backoff and reported with its log tail', async () => {
  const scheduler = manualScheduler();
  const sup = new Supervised(
    { label: 'demo', file: process.execPath, args: ['-e', 'console.log("boom at start"); process.exit(3)'], env: {}, logFile: path.join(dir, 'crash.log') },
    scheduler,
  );
  const reports: ExitReport[] = [];
  sup.on('exit', (r) => reports.push(r));
  sup.start();
  await sup.exited();
  scheduler.fire();
  await sup.exited();
  assert.equal(reports.length, 2);
  assert.equal(reports[0]?.code, 3);
  assert.match(reports[0]?.logTail ?? '', /boom at start/);
  assert.deepEqual(scheduler.delays, [500, 1000]);
  await sup.stop();
});

test('a job that exits 0 is done, not restarted', async () => {
  const scheduler = manualScheduler();
  const sup = new Supervised(
    { label: 'job', file: process.execPath, args: ['-e', 'process.exit(0)'], env: {}, logFile: path.join(dir, 'job.log'), runToCompletion: true },
    scheduler,
  );
  const done = new Promise<ExitReport>((resolve) => sup.once('done', resolve));
  sup.start();
  assert.equal((await done).code, 0);
  assert.equal(scheduler.delays.length, 0);
});

test('a command that cannot start is reported with the reason', async () => {
  const scheduler = manualScheduler();
  const sup = new Supervised({ label: 'missing', file: '/nonexistent/binary', args: [], env: {}, logFile: path.join(dir, 'missing.log') }, scheduler);
  const report = new Promise<ExitReport>((resolve) => sup.once('exit', resolve));
  sup.start();
  assert.match((await report).logTail, /cannot start \/nonexistent\/binary: .*ENOENT/);
  await sup.stop();
});

test('stop terminates a long-running process', async () => {
  const sup = new Supervised({ label: 'long', file: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'], env: {}, logFile: path.join(dir, 'long.log') });
  const done = new Promise<ExitReport>((resolve) => sup.once('done', resolve));
  sup.start();
  assert.ok(sup.pid);
  await sup.stop();
  assert.equal((await done).signal, 'SIGTERM');
});



/** Leaves nothing behind when a test fails. */
function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** A shell that starts a `sleep` and writes its pid, as the seed's test runner does; returns the sleep's pid. */
async function shellWithChild(name: string, then: string, scheduler?: Scheduler): Promise<{ sup: Supervised; child: number }> {
  const pidFile = path.join(dir, `${name}.pid`);
  const sup = new Supervised({ label: name, file: '/bin/sh', args: ['-c', `sleep 600 & echo $! > ${pidFile}.tmp; mv ${pidFile}.tmp ${pidFile}; ${then}`], env: {}, logFile: path.join(dir, `${name}.log`) }, scheduler);
  sup.start();
  await until('the child pid file', () => existsSync(pidFile));
  return { sup, child: Number(readFileSync(pidFile, 'utf8')) };
}

test('stop ends what the process started too: a shell stopped in `wait` leaves no sleep behind', { skip: !existsSync('/proc/self/stat') }, async () => {
  const { sup, child } = await shellWithChild('shell', 'wait');
  try {
    assert.ok(running(child));
    await sup.stop();
    await until('the shell\'s sleep gone', () => !running(child));
  } finally {
    kill(child);
  }
});

test('a process that exits takes what it started with it, before it is restarted', { skip: !existsSync('/proc/self/stat') }, async () => {
  const scheduler = manualScheduler();
  const { sup, child } = await shellWithChild('crashing-shell', 'exit 3', scheduler);
  try {
    await sup.exited();
    await until('the crashed shell\'s sleep gone', () => !running(child));
    await sup.stop();
  } finally {
    kill(child);
  }
});

test('a log that cannot be opened (a read-only state directory) costs the log, not the process, nor the supervisor', async () => {
  const scheduler = manualScheduler();
  const logFile = path.join(dir, 'no-such-dir', 'app.log');
  const sup = new Supervised({ label: 'app', file: process.execPath, args: ['-e', 'process.exit(2)'], env: {}, logFile }, scheduler);
  const warnings: string[] = [];
  sup.on('warning', (w) => warnings.push(w));
  sup.start();
  assert.ok(sup.pid, 'started');
  await sup.exited();
  scheduler.fire(); // the restart, from a timer: a throw there would end the process running up
  await sup.exited();
  assert.equal(warnings.length, 2);
  assert.match(warnings[0] ?? '', /^its output is discarded: cannot open its log \(ENOENT: .*no-such-dir\/app\.log'\)$/);
  await sup.stop();
});
