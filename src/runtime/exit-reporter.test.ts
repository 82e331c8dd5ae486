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
    assert.equal(c.detail, 'app exited with SIGKILL; restarting in 1s');
    restarts.shift()?.();
    assert.equal(c.status, 'running');
    assert.equal(c.detail, undefined, `status said: ${seen.join(' → ')}`);
    assert.equal(c.restarts, 1);
    assert.equal(c.pid, app.pid);
  } finally {
    await app.stop(1000);
  }
});
