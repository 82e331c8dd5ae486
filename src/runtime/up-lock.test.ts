import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { processStartMs } from './state.ts';
import { claimMeshDir, meshDirHolder, releaseMeshDir, removeStaleLock } from './up-lock.ts';

/** The pid of a process that has exited: what an `up` that died leaves in its lock. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid as number;
}

/** A live process's pid (and start time, as an `up` writes them), and how to end it. */
async function liveProcess(): Promise<{ line: string; pid: number; stop: () => void }> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('spawn', resolve));
  const pid = child.pid as number;
  return { pid, line: `${pid} ${processStartMs(pid) ?? ''}\n`, stop: () => child.kill('SIGKILL') };
}

test('claimMeshDir: the first claim holds, a lock a dead up left is taken over, and releasing leaves nothing behind', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-up-lock-'));
  try {
    writeFileSync(path.join(dir, 'up.lock'), `${await deadPid()} 1\n`);
    assert.deepEqual(claimMeshDir(dir), { claimed: true });
    assert.equal(readFileSync(path.join(dir, 'up.lock'), 'utf8').split(' ')[0], String(process.pid));
    releaseMeshDir(dir);
    assert.deepEqual(readdirSync(dir), [], 'no lock, and no temporary file of the claim');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('claimMeshDir: a live up holding the directory is named, and its lock is left as it is', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-up-lock-'));
  const holder = await liveProcess();
  try {
    writeFileSync(path.join(dir, 'up.lock'), holder.line);
    assert.deepEqual(claimMeshDir(dir), { claimed: false, pid: holder.pid });
    assert.equal(meshDirHolder(dir), holder.pid);
    assert.equal(readFileSync(path.join(dir, 'up.lock'), 'utf8'), holder.line);
    assert.deepEqual(readdirSync(dir), ['up.lock']);
  } finally {
    holder.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

// Two `up`s find the same dead up's lock at once. The first takes it over and writes its own; the
// second, which judged the lock stale a moment before, must not remove the first's fresh lock.
test('removeStaleLock: a lock another up took over after it was judged stale is kept, and its holder named', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-up-lock-'));
  const file = path.join(dir, 'up.lock');
  const first = await liveProcess();
  try {
    writeFileSync(file, `${await deadPid()} 1\n`);
    assert.equal(meshDirHolder(dir), undefined, 'judged stale');
    writeFileSync(file, first.line); // meanwhile, the first up's claim
    assert.equal(removeStaleLock(file), first.pid);
    assert.equal(readFileSync(file, 'utf8'), first.line, "the first up's lock is still in place");
    assert.deepEqual(readdirSync(dir), ['up.lock']);
    // A lock that is stale indeed is removed.
    writeFileSync(file, `${await deadPid()} 1\n`);
    assert.equal(removeStaleLock(file), undefined);
    assert.equal(existsSync(file), false);
    assert.equal(removeStaleLock(file), undefined, 'already gone: nothing to do');
  } finally {
    first.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
