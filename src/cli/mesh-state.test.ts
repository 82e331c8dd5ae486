// The commands that act on a running mesh: a --dir that is a file is a wrong command line (exit 64, one
// line naming the flag); a directory with no mesh in it is a failure (exit 1).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { main } from './main.ts';

async function runMain(args: readonly string[]): Promise<{ code: number; err: string }> {
  const err: string[] = [];
  const writeErr = process.stderr.write;
  process.stderr.write = ((c: string) => err.push(String(c)) > 0) as typeof process.stderr.write;
  try {
    return { code: await main(['node', 'outrigger', ...args]), err: err.join('') };
  } finally {
    process.stderr.write = writeErr;
  }
}

const commands: [string, string[]][] = [
  ['down', []],
  ['status', []],
  ['logs', ['podinfo-stable-0']],
  ['exec', ['podinfo-stable-0', '--', 'env']],
  ['verify', []],
  ['proxy-status', []],
  ['proxy-config', ['cluster', 'podinfo-stable-0.podinfo']],
];

test('down, status, logs, exec, verify, proxy-status, proxy-config: --dir naming a file exits 64 with one line naming --dir', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-mesh-dir-'));
  const file = path.join(dir, 'a-file');
  writeFileSync(file, '');
  try {
    for (const [command, args] of commands) {
      const r = await runMain([command, '--dir', file, ...args]);
      assert.deepEqual([r.code, r.err], [64, `outrigger ${command}: --dir ${file}: not a directory\n`], command);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('down, status, logs, exec, verify, proxy-status, proxy-config: a --dir with no mesh in it exits 1 (the command ran and found none)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-mesh-none-'));
  try {
    for (const [command, args] of commands) {
      const r = await runMain([command, '--dir', dir, ...args]);
      assert.equal(r.code, 1, `${command}: ${r.err}`);
      assert.match(r.err, new RegExp(`^outrigger ${command}: no mesh is running here \\(no ${dir}/state\\.json\\)[^\\n]*\\n$`), command);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no mesh: the line to start one keeps the --dir given, and without --dir it says a mesh elsewhere needs its --dir', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-mesh-hint-'));
  const cwd = process.cwd();
  try {
    const given = await runMain(['status', '--dir', dir]);
    assert.equal(given.err, `outrigger status: no mesh is running here (no ${dir}/state.json); start one with: outrigger up -f DIR --dir ${dir}\n`);
    // Here: this directory's .outrigger, which a mesh started with `up --dir` elsewhere does not use.
    process.chdir(dir);
    // proxy-status and proxy-config too: never whatever answers on the default debug port.
    for (const args of [['status'], ['proxy-status'], ['proxy-config', 'cluster', 'podinfo-stable-0.podinfo']]) {
      const here = await runMain(args);
      assert.equal(here.code, 1, args[0]);
      assert.equal(
        here.err,
        `outrigger ${args[0]}: no mesh is running here (no ${path.join(dir, '.outrigger')}/state.json); start one with: outrigger up -f DIR, or give the --dir of a mesh started with one\n`,
      );
    }
  } finally {
    process.chdir(cwd);
    process.exitCode = 0;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('status while an up is still starting says so, with its pid, rather than that no mesh is here', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-mesh-starting-'));
  // Another process holds the directory as a starting `up` does: claimed, no state.json yet.
  const lock = path.join(import.meta.dirname, '..', 'runtime', 'up-lock.ts');
  const holder = spawn(process.execPath, ['--input-type=module', '-e', `const { claimMeshDir } = await import(${JSON.stringify(lock)}); claimMeshDir(${JSON.stringify(dir)}); console.log('claimed'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      holder.stdout.once('data', () => resolve());
      holder.once('exit', (code) => reject(new Error(`the holder exited with ${code}`)));
    });
    const r = await runMain(['status', '--dir', dir]);
    assert.equal(r.code, 1);
    assert.equal(r.err, `outrigger status: a mesh is starting here (outrigger up, pid ${holder.pid}); it has not written ${dir}/state.json yet: try again once it says it is running\n`);
  } finally {
    holder.kill('SIGKILL');
    process.exitCode = 0;
    rmSync(dir, { recursive: true, force: true });
  }
});
