// The sleep workload idles until aborted, and as a process exits cleanly on SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { idle } from './sleep.ts';

test('idle resolves only when aborted', async () => {
  const stop = new AbortController();
  let done = false;
  const idling = idle(stop.signal).then(() => {
    done = true;
  });
  await Promise.resolve();
  assert.equal(done, false);
  stop.abort();
  await idling;
  assert.equal(done, true);
});

test('an already aborted signal resolves at once', async () => {
  await idle(AbortSignal.abort());
});

test('the script stays up until SIGTERM, then exits 0', async () => {
  const script = fileURLToPath(new URL('./sleep.ts', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    assert.equal((JSON.parse(line.toString()) as { pid: number }).pid, child.pid);
    assert.equal(child.exitCode, null);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
  } finally {
    child.kill('SIGKILL');
  }
});
