import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { LoadResult } from '../config/load.ts';
import { loadPaths } from '../config/load-paths.ts';
import { ManualClock } from './clock.ts';
import { ConfigWatcher, SETTLE_MS } from './config-watcher.ts';

const vs = (name: string) => `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ${name}}\nspec: {hosts: [${name}]}\n`;

async function setup(rescanMs = 0) {
  const dir = await mkdtemp(path.join(tmpdir(), 'or-watch-'));
  const files = new Map<string, LoadResult>();
  const log: string[] = [];
  const clock = new ManualClock();
  const w = new ConfigWatcher({
    paths: [dir],
    clock,
    rescanMs,
    onFile: (f, r) => {
      log.push(`${r ? 'load' : 'drop'} ${path.relative(dir, f)}`);
      if (r) files.set(f, r);
      else files.delete(f);
    },
  });
  return { dir, files, log, w, clock };
}

test('add, edit, rename and delete are seen by a rescan', async () => {
  const { dir, log, w } = await setup();
  await mkdir(path.join(dir, 'sub'));
  await writeFile(path.join(dir, 'a.yaml'), vs('a'));
  await writeFile(path.join(dir, 'sub', 'b.yml'), vs('b'));
  await writeFile(path.join(dir, 'notes.txt'), 'ignored');
  await w.start();
  assert.deepEqual(log.sort(), ['load a.yaml', 'load sub/b.yml']);
  log.length = 0;
  assert.equal(await w.rescan(), 0);
  await writeFile(path.join(dir, 'a.yaml'), vs('a2'));
  await rename(path.join(dir, 'sub', 'b.yml'), path.join(dir, 'c.yaml'));
  assert.equal(await w.rescan(), 3);
  assert.deepEqual(log.sort(), ['drop sub/b.yml', 'load a.yaml', 'load c.yaml']);
  await rm(path.join(dir, 'a.yaml'));
  await w.rescan();
  assert.equal(log.at(-1), 'drop a.yaml');
  w.close();
  await rm(dir, { recursive: true });
});

/** Waits (real time, bounded) until `ok` holds: fs.watch events arrive when the kernel delivers them. */
function until(what: string, ok: () => boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      clearInterval(i); // a failed wait must not keep the test process alive
      reject(new Error(`${what} not within 5 s`));
    }, 5000);
    const i = setInterval(() => {
      if (ok()) {
        clearTimeout(t);
        clearInterval(i);
        resolve();
      }
    }, 10);
  });
}

test('fs.watch reports a new file without a rescan timer, once its events have settled', async () => {
  const { dir, log, w, clock } = await setup();
  await w.start();
  await writeFile(path.join(dir, 'new.yaml'), vs('n'));
  await until('a watch event', () => clock.pending > 0);
  assert.equal(log.length, 0, log.join());
  clock.advance(SETTLE_MS);
  await w.rescan(); // joins the scan the settled event started
  assert.ok(log.includes('load new.yaml'), log.join());
  w.close();
  await rm(dir, { recursive: true });
});

test('a file saved by truncating, then writing, is read once, whole: never empty in between', async () => {
  const { dir, log, files, w, clock } = await setup();
  const file = path.join(dir, 'a.yaml');
  await writeFile(file, vs('a'));
  await w.start();
  log.length = 0;
  await writeFile(file, ''); // what an editor's save does first
  await until('a watch event', () => clock.pending > 0);
  // The empty file's event has arrived, and nothing has read the file yet.
  assert.equal(log.length, 0, log.join());
  await writeFile(file, vs('a2'));
  clock.advance(SETTLE_MS);
  await w.rescan();
  assert.deepEqual(log, ['load a.yaml']);
  assert.equal(files.get(file)?.resources[0]?.metadata.name, 'a2');
  w.close();
  await rm(dir, { recursive: true });
});

test('the periodic rescan runs on the injected clock', async () => {
  const { dir, log, w, clock } = await setup(1000);
  await w.start();
  w.close(); // stop fs.watch; keep only the timer path by restarting without watchers below
  const w2 = new ConfigWatcher({ paths: [dir], clock, rescanMs: 1000, onFile: (f) => log.push(path.basename(f)) });
  await w2.start();
  await writeFile(path.join(dir, 'late.yaml'), vs('l'));
  clock.advance(1000);
  await w2.rescan(); // joins the scan the timer started
  assert.ok(log.includes('late.yaml'));
  w2.close();
  await rm(dir, { recursive: true });
});

test('the periodic rescan leaves a file whose events are still settling to the settle timer', async () => {
  const { dir, log, files, w, clock } = await setup(SETTLE_MS / 2);
  const file = path.join(dir, 'a.yaml');
  await writeFile(file, vs('a'));
  await w.start();
  log.length = 0;
  await writeFile(file, '');
  await until('a watch event', () => clock.pending > 1);
  clock.advance(SETTLE_MS / 2); // the periodic tick falls due first: it must not scan
  assert.equal(w.scanning, false);
  assert.equal(log.length, 0, log.join());
  await writeFile(file, vs('a2'));
  clock.advance(SETTLE_MS);
  await w.rescan();
  assert.deepEqual(log, ['load a.yaml']);
  assert.equal(files.get(file)?.resources[0]?.metadata.name, 'a2');
  w.close();
  await rm(dir, { recursive: true });
});

test('the files served are the ones up and analyze read: no dot directories, and a symlink loop ends', async () => {
  const { dir, log, w } = await setup();
  await writeFile(path.join(dir, 'a.yaml'), vs('a'));
  await mkdir(path.join(dir, '.history'));
  await writeFile(path.join(dir, '.history', 'old.yaml'), vs('old'));
  // Two links back to the directory: walked by name, 2^depth paths; walked by real path, one.
  await symlink('.', path.join(dir, 'self'));
  await symlink('.', path.join(dir, 'again'));
  await w.start();
  assert.deepEqual(log.sort(), ['load a.yaml']);
  assert.deepEqual(loadPaths([dir]).resources.map((r) => r.metadata.name), ['a'], 'the same as loadPaths');
  w.close();
  await rm(dir, { recursive: true });
});

/** Lets the watcher scan what its events announced: the settle timer fires, and the scan runs. */
async function settle(w: ConfigWatcher, clock: ManualClock): Promise<void> {
  await until('a watch event', () => clock.pending > 0);
  clock.advance(SETTLE_MS);
  await w.rescan(); // joins the scan the settled event started
}

test('a file an editor saved by renaming a new one over it is still watched: a later write in place is seen', async () => {
  const { dir, log, files, w, clock } = await setup();
  const file = path.join(dir, 'a.yaml');
  await writeFile(file, vs('a'));
  await w.start();
  await writeFile(path.join(dir, '.a.yaml.swp'), vs('a2'));
  await rename(path.join(dir, '.a.yaml.swp'), file);
  await settle(w, clock);
  assert.equal(files.get(file)?.resources[0]?.metadata.name, 'a2');
  log.length = 0;
  await writeFile(file, vs('a3')); // `cp`, `>`, an editor that writes in place
  await settle(w, clock);
  assert.deepEqual(log, ['load a.yaml']);
  assert.equal(files.get(file)?.resources[0]?.metadata.name, 'a3');
  w.close();
  await rm(dir, { recursive: true });
});

test('a file moved in from elsewhere, after one of its name was saved by rename and moved out, is seen without a rescan timer', async () => {
  const { dir, log, w, clock } = await setup();
  const outside = await mkdtemp(path.join(tmpdir(), 'or-watch-out-'));
  const file = path.join(dir, 'a.yaml');
  await writeFile(file, vs('a'));
  await w.start();
  await writeFile(path.join(dir, '.a.yaml.swp'), vs('a2'));
  await rename(path.join(dir, '.a.yaml.swp'), file);
  await settle(w, clock);
  await rename(file, path.join(outside, 'a.yaml'));
  await settle(w, clock);
  assert.deepEqual(log.slice(-1), ['drop a.yaml']);
  await rename(path.join(outside, 'a.yaml'), file);
  await settle(w, clock);
  assert.deepEqual(log.slice(-1), ['load a.yaml']);
  w.close();
  await rm(dir, { recursive: true });
  await rm(outside, { recursive: true });
});

test('a file named on its own (-f vs.yaml) is watched through its directory: a save by rename, then a write in place', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'or-watch-file-'));
  const file = path.join(dir, 'vs.yaml');
  await writeFile(file, vs('a'));
  await writeFile(path.join(dir, 'other.yaml'), vs('other'));
  const names: string[] = [];
  const clock = new ManualClock();
  const w = new ConfigWatcher({ paths: [file], clock, rescanMs: 0, onFile: (_f, r) => names.push(r?.resources[0]?.metadata.name ?? 'gone') });
  await w.start();
  assert.deepEqual(names, ['a'], 'only the file named');
  await writeFile(`${file}.tmp`, vs('b'));
  await rename(`${file}.tmp`, file);
  await settle(w, clock);
  await writeFile(file, vs('c'));
  await settle(w, clock);
  assert.deepEqual(names, ['a', 'b', 'c']);
  w.close();
  await rm(dir, { recursive: true });
});

test('a subdirectory made after the start is watched too', async () => {
  const { dir, log, w, clock } = await setup();
  await w.start();
  await mkdir(path.join(dir, 'team'));
  await writeFile(path.join(dir, 'team', 'a.yaml'), vs('a'));
  await settle(w, clock);
  assert.deepEqual(log, ['load team/a.yaml']);
  await writeFile(path.join(dir, 'team', 'a.yaml'), vs('a2'));
  await settle(w, clock);
  assert.deepEqual(log, ['load team/a.yaml', 'load team/a.yaml']);
  w.close();
  await rm(dir, { recursive: true });
});
