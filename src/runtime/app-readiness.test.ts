// What the control plane is told of a pod as its app (a real process) starts, exits, restarts and
// finishes. The restarts wait on a scheduler the test drives; whether the app listens is the test's answer.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { WorkloadInstance } from '../model/workload.ts';
import { AppReadiness } from './app-readiness.ts';
import { type Scheduler, Supervised } from './supervisor.ts';

const pod: WorkloadInstance = { name: 'web-0', namespace: 'shop', labels: { app: 'web' }, serviceAccount: 'default', address: '127.0.0.1', appPorts: { 8080: 41000 }, healthy: true, source: 'deployment' };

/** Restarts happen when the test says. */
class HeldRestarts implements Scheduler {
  held: (() => void)[] = [];
  setTimeout(fn: () => void): { cancel(): void } {
    this.held.push(fn);
    return { cancel: () => {} };
  }
  release(): void {
    for (const fn of this.held.splice(0)) fn();
  }
}

function harness(script: string, runToCompletion = false) {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-readiness-'));
  const restarts = new HeldRestarts();
  const app = new Supervised({ label: 'web-0 app', file: process.execPath, args: ['-e', script], env: {}, logFile: path.join(dir, 'app.log'), runToCompletion }, restarts);
  const told: string[] = [];
  let answer: (listening: boolean) => void = () => {};
  const readiness = new AppReadiness(app, pod, {
    listening: () => new Promise((resolve) => (answer = resolve)),
    stopping: () => false,
    register: (i) => told.push(i.healthy ? 'ready' : 'not ready'),
  });
  // The supervisor says 'started' as it spawns, inside start(): listened for before.
  const started = async (go: () => void) => {
    const spawned = once(app, 'started');
    go();
    await spawned;
  };
  return {
    app,
    told,
    readiness,
    start: () => started(() => app.start()),
    restart: () => started(() => restarts.release()),
    listens: (yes = true) => answer(yes),
    done: async () => {
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('an app that exits while its first start is waited for is not joined by that wait; its restart joins once it listens', async () => {
  const h = harness('setInterval(() => {}, 1 << 30)');
  try {
    await h.start();
    process.kill(h.app.pid as number, 'SIGKILL');
    await once(h.app, 'exit');
    h.readiness.joined(1); // the runtime's first wait ends after the crash
    assert.deepEqual(h.told, []);
    await h.restart();
    h.listens();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(h.told, ['ready']);
    process.kill(h.app.pid as number, 'SIGKILL');
    await once(h.app, 'exit');
    assert.deepEqual(h.told, ['ready', 'not ready']);
  } finally {
    await h.done();
  }
});

test('a wait that outlives its run of the app decides nothing', async () => {
  const h = harness('setInterval(() => {}, 1 << 30)');
  try {
    await h.start();
    h.readiness.joined(1);
    process.kill(h.app.pid as number, 'SIGKILL');
    await once(h.app, 'exit');
    await h.restart();
    const second = h.listens;
    process.kill(h.app.pid as number, 'SIGKILL');
    await once(h.app, 'exit');
    second(); // the second run's wait ends after that run exited
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(h.told, ['ready', 'not ready']);
  } finally {
    await h.done();
  }
});

test("a Job's pod leaves its services when the Job finishes", async () => {
  const h = harness('setTimeout(() => {}, 50)', true);
  try {
    await h.start();
    h.readiness.joined(1);
    await once(h.app, 'done');
    assert.deepEqual(h.told, ['ready', 'not ready']);
  } finally {
    await h.done();
  }
});
