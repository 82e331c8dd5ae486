// What status reads of a component whose process exits and is restarted: the restart, then, once the
// new process has started, nothing more of the exit than the count of restarts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { ComponentTracker } from './component-tracker.ts';
import { ExitReporter } from './exit-reporter.ts';
import type { ComponentState } from './state.ts';
import { type Scheduler, Supervised } from './supervisor.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'outrigger-exit-reporter-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('an app restarted after it was killed reads running, without the exit that restarted it', async () => {
  const restarts: (() => void)[] = [];
  const scheduler: Scheduler = {
    setTimeout(fn) {
      restarts.push(fn);
      return { cancel: () => {} };
    },
  };
  // The first run kills itself; the restarted one stays up until stopped.
  const marker = path.join(dir, 'ran-once');
  const script = `const fs = require('node:fs'); if (!fs.existsSync(${JSON.stringify(marker)})) { fs.writeFileSync(${JSON.stringify(marker)}, ''); process.kill(process.pid, 'SIGKILL'); } setInterval(() => {}, 1000);`;
  const app = new Supervised({ label: 'shop/web-0 app', file: process.execPath, args: ['-e', script], env: {}, logFile: path.join(dir, 'app.log') }, scheduler);
  const c: ComponentState = { name: 'shop/web-0', kind: 'workload', ports: {}, sidecar: true, status: 'running', restarts: 0 };
  const seen: string[] = [];
  const tracker = { save: () => seen.push(`${c.status}${c.detail ? ` (${c.detail})` : ''}`) } as unknown as ComponentTracker;
  new ExitReporter({ tracker, progress: () => {}, stopping: () => false }).watch(app, c, 'app');
  try {
    app.start();
    await app.exited();
    assert.equal(c.status, 'restarting');
    assert.equal(c.detail, 'app exited with SIGKILL; restarting in 0.5s');
    restarts.shift()?.();
    assert.equal(c.status, 'running');
    assert.equal(c.detail, undefined, `status said: ${seen.join(' → ')}`);
    assert.equal(c.restarts, 1);
    assert.equal(c.pid, app.pid);
  } finally {
    await app.stop(1000);
  }
});

/** A tracker whose saves go nowhere: these tests read the component's state itself. */
const noSave = { save: () => {} } as unknown as ComponentTracker;

test('a container whose program cannot be started reads as such, not as an exit with status null', async () => {
  const scheduler: Scheduler = { setTimeout: () => ({ cancel: () => {} }) };
  // Kubernetes runs `args` alone as the image's entrypoint's arguments; an image with no entrypoint runs the first.
  const app = new Supervised({ label: 'shop/web-0 app', file: '--port=9898', args: ['--level=info'], env: {}, logFile: path.join(dir, 'nostart.log') }, scheduler);
  const c: ComponentState = { name: 'shop/web-0', kind: 'workload', ports: {}, sidecar: true, status: 'running', restarts: 0 };
  const lines: string[] = [];
  new ExitReporter({ tracker: noSave, progress: (l) => lines.push(l), stopping: () => false }).watch(app, c, 'app');
  app.start();
  await app.exited();
  assert.equal(c.detail, 'app could not start (spawn --port=9898 ENOENT); restarting in 0.5s');
  assert.match(lines[0] ?? '', /^shop\/web-0: app could not start \(spawn --port=9898 ENOENT\), restarting/);
  await app.stop(1000);
});

test("a Job out of tries is failed with Kubernetes' backoffLimit, and not restarted again", async () => {
  const restarts: (() => void)[] = [];
  const scheduler: Scheduler = {
    setTimeout(fn) {
      restarts.push(fn);
      return { cancel: () => {} };
    },
  };
  const job = new Supervised({ label: 'shop/seed-0 app', file: process.execPath, args: ['-e', 'process.exit(6)'], env: {}, logFile: path.join(dir, 'job.log'), runToCompletion: true, maxRestarts: 2 }, scheduler);
  const c: ComponentState = { name: 'shop/seed-0', kind: 'workload', ports: {}, sidecar: false, status: 'running', restarts: 0 };
  const reporter = new ExitReporter({ tracker: noSave, progress: () => {}, stopping: () => false });
  reporter.watch(job, c, 'app');
  let finished = 0;
  reporter.watchCompletion(job, c, () => finished++);
  job.start();
  await job.exited();
  for (let tries = 2; tries <= 3; tries++) {
    assert.equal(restarts.length, 1, `a restart is due before try ${tries}`);
    restarts.shift()?.();
    await job.exited();
  }
  assert.equal(restarts.length, 0, 'no fourth try');
  assert.equal(finished, 1);
  assert.equal(c.status, 'failed');
  assert.equal(c.detail, 'exited with status 6 on its last try of 3 (backoffLimit 2)');
  assert.equal(c.restarts, 2);
});
