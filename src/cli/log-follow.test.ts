// `logs -f` over a real file that grows: each append is written once, in order, a character split
// across two appends whole; a file cut shorter is followed from its start; abort and a stopped mesh end it.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { appendFileSync, mkdtempSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileIdentity, followLog } from './log-follow.ts';

function collector() {
  const written = new EventEmitter();
  let out = '';
  return {
    write: (text: string) => {
      out += text;
      written.emit('text');
    },
    get out() {
      return out;
    },
    /** Resolves once everything written so far ends with `tail`; fails naming it after 10 s. */
    async until(tail: string) {
      const signal = AbortSignal.timeout(10_000);
      while (!out.endsWith(tail)) await once(written, 'text', { signal }).catch(() => assert.fail(`never wrote ${JSON.stringify(tail)}; wrote ${JSON.stringify(out)}`));
    },
  };
}

test('followLog writes what is appended after the offset, in order, until aborted', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-log-follow-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'app.log');
  writeFileSync(file, 'already printed\n');
  const c = collector();
  const stop = new AbortController();
  const following = followLog(file, Buffer.byteLength('already printed\n'), c.write, { signal: stop.signal, intervalMs: 5 });
  appendFileSync(file, 'one\n');
  await c.until('one\n');
  appendFileSync(file, 'two\nthree\n');
  await c.until('three\n');
  // "é" is two bytes: its first alone is held until the second arrives.
  const e = Buffer.from('é\n');
  appendFileSync(file, e.subarray(0, 1));
  appendFileSync(file, e.subarray(1));
  await c.until('é\n');
  // Rewritten shorter (a restart): followed again from its start.
  writeFileSync(file, 'new\n');
  await c.until('new\n');
  stop.abort();
  await following;
  appendFileSync(file, 'after\n');
  assert.equal(c.out, 'one\ntwo\nthree\né\nnew\n');
});

test('followLog ends once the mesh stops, with what was written before', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-log-follow-stop-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'app.log');
  writeFileSync(file, '');
  const c = collector();
  let running = true;
  const following = followLog(file, 0, c.write, { signal: new AbortController().signal, intervalMs: 5, running: () => running });
  appendFileSync(file, 'last words\n');
  running = false;
  await following;
  assert.equal(c.out, 'last words\n');
});

test('followLog follows another file put at the name (renamed over it, or deleted and made again) from its start, even when it is longer', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-log-follow-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'app.log');
  writeFileSync(file, 'old-1\n');
  const c = collector();
  const stop = new AbortController();
  const following = followLog(file, 0, c.write, { signal: stop.signal, intervalMs: 5 });
  await c.until('old-1\n');
  // A longer file renamed over the log: read from its first byte, not from the old file's length on.
  const next = path.join(dir, 'next.log');
  writeFileSync(next, 'new-1\nnew-2\nnew-3\n');
  renameSync(next, file);
  await c.until('new-3\n');
  unlinkSync(file);
  writeFileSync(file, 'third-1\nthird-2\nthird-3\nthird-4\n');
  await c.until('third-4\n');
  stop.abort();
  await following;
  assert.equal(c.out, 'old-1\nnew-1\nnew-2\nnew-3\nthird-1\nthird-2\nthird-3\nthird-4\n');
});

test('followLog reads another file put at the name between the first read and the first look from its start', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-log-follow-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'app.log');
  writeFileSync(file, 'printed\n');
  const identity = fileIdentity(statSync(file));
  // Replaced, by a longer file, before the follow first looks.
  const next = path.join(dir, 'next.log');
  writeFileSync(next, 'new-1\nnew-2\n');
  renameSync(next, file);
  const c = collector();
  const stop = new AbortController();
  t.after(() => stop.abort()); // a failure below must not leave the follow running
  const following = followLog(file, Buffer.byteLength('printed\n'), c.write, { signal: stop.signal, intervalMs: 5, identity });
  await c.until('new-2\n');
  stop.abort();
  await following;
  assert.equal(c.out, 'new-1\nnew-2\n');
});
