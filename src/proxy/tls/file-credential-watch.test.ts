// The file watch under a gateway's file certificates, as istio-agent's: a pair is served only once its
// key matches its certificate (a certificate written before its key is tried again), a file that never
// loads keeps the last good value, a read is safe against a FIFO swapped in, and a change that changes
// nothing rebuilds nothing. Timers are fired by hand; file events are real.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { makeCa } from '../../../test/proxy/certs.ts';
import { ManualTimers } from '../../../test/proxy/harness.ts';
import { FILE_DEBOUNCE_MS, FileCredentialWatch, RETRY_BUDGET_MS, REWATCH_MS } from './file-credential-watch.ts';
import { caCredential, keyPairCredential } from './file-credentials.ts';

const ca = await makeCa('file-watch');
const issue = () => ca.issueWithSans([{ type: 'dns', value: 'gw.example.com' }]);

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), 'file-watch-'));
  const timers = new ManualTimers();
  const events = { changes: 0, warnings: [] as string[] };
  const watch = new FileCredentialWatch({ timers, onChange: () => events.changes++, warn: (m) => events.warnings.push(m) });
  return { dir, timers, events, watch };
}

/** Two key pairs in `dir` (a.crt/a.key and b.crt/b.key, the same certificate), both held by `watch`. */
async function twoHeldPairs(dir: string, watch: FileCredentialWatch) {
  const a = await issue();
  for (const f of ['a.crt', 'a.key', 'b.crt', 'b.key']) writeFileSync(path.join(dir, f), f.endsWith('.crt') ? a.cert : a.key);
  const pa = keyPairCredential({ file: path.join(dir, 'a.crt') }, { file: path.join(dir, 'a.key') }, 'f');
  const pb = keyPairCredential({ file: path.join(dir, 'b.crt') }, { file: path.join(dir, 'b.key') }, 'f');
  watch.hold([
    { credential: pa, value: a },
    { credential: pb, value: a },
  ]);
  return { a, pa, pb };
}

/** A certificate and key written in `dir` (tls.crt, tls.key) and held by `watch`. */
async function heldPair(dir: string, watch: FileCredentialWatch) {
  const cert = path.join(dir, 'tls.crt');
  const key = path.join(dir, 'tls.key');
  const a = await issue();
  writeFileSync(cert, a.cert);
  writeFileSync(key, a.key);
  const credential = keyPairCredential({ file: cert }, { file: key }, 'f');
  watch.hold([{ credential, value: a }]);
  return { cert, key, a, credential };
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), `timed out waiting for ${what}`);
}

/** A pending read (debounce or retry), not a lost directory's re-add. */
const readTimer = (timers: ManualTimers) => [...timers.pending.values()].find((t) => t.ms !== REWATCH_MS)?.ms;

/** Fires each read (debounce or retry) as it is set, until `done`; the waits fired, in order. */
async function drive(timers: ManualTimers, done: () => boolean): Promise<number[]> {
  const fired: number[] = [];
  for (;;) {
    await until('a pending read', () => done() || readTimer(timers) !== undefined);
    if (done()) return fired;
    const ms = readTimer(timers) as number;
    timers.fire(ms);
    fired.push(ms);
  }
}

test('a certificate written before its key is tried again, and served once the key matches', async () => {
  const { dir, timers, events, watch } = setup();
  const cert = path.join(dir, 'tls.crt');
  const key = path.join(dir, 'tls.key');
  const a = await issue();
  const b = await issue();
  writeFileSync(cert, a.cert);
  writeFileSync(key, a.key);
  const credential = keyPairCredential({ file: cert }, { file: key }, 'f');
  watch.hold([{ credential, value: a }]);
  writeFileSync(cert, b.cert);
  // The key does not match yet: retries wait, the old pair is served.
  await drive(timers, () => [...timers.pending.values()].some((t) => t.ms > FILE_DEBOUNCE_MS));
  assert.deepEqual(watch.keyPair(credential.id), a);
  assert.equal(events.changes, 0);
  writeFileSync(key, b.key);
  await drive(timers, () => events.changes === 1);
  assert.deepEqual(watch.keyPair(credential.id), b);
  assert.deepEqual(events.warnings, []);
  watch.close();
});

test('a FIFO put in place of the certificate is refused without waiting for a writer; the last good pair stays', async () => {
  const { dir, timers, events, watch } = setup();
  const { cert, a, credential } = await heldPair(dir, watch);
  rmSync(cert);
  execFileSync('mkfifo', [cert]);
  const fired = await drive(timers, () => events.warnings.length > 0);
  // The debounce, then istio-agent's retries (×1.5 from 100 ms) within its 10 s.
  const retries = fired.slice(fired.lastIndexOf(FILE_DEBOUNCE_MS));
  assert.ok(retries.reduce((a, b) => a + b) - FILE_DEBOUNCE_MS >= RETRY_BUDGET_MS && retries.length <= 12, String(retries));
  assert.deepEqual(events.warnings, [`cannot read ${cert} after a change: the last good certificate is served`]);
  assert.deepEqual(watch.keyPair(credential.id), a);
  assert.equal(events.changes, 0);
  watch.close();
});

test('a change that changes nothing (the file written again as it was) rebuilds nothing', async () => {
  const { dir, timers, events, watch } = setup();
  const bundle = path.join(dir, 'ca.pem');
  writeFileSync(bundle, ca.ca);
  const credential = caCredential(bundle, 'f');
  watch.hold([{ credential, value: ca.ca }]);
  writeFileSync(bundle, ca.ca);
  await until('the event', () => timers.pending.size > 0);
  timers.fire(FILE_DEBOUNCE_MS);
  // Then a real change: it alone is one.
  const other = await makeCa('file-watch-3');
  writeFileSync(bundle, other.ca);
  await drive(timers, () => watch.bundle(credential.id)?.trim() === other.ca.trim());
  assert.equal(events.changes, 1);
  watch.close();
});

test('a CA bundle: a block that does not parse is left out, with a warning; a bundle with none keeps the last good one', async () => {
  const { dir, timers, events, watch } = setup();
  const bundle = path.join(dir, 'ca.pem');
  writeFileSync(bundle, ca.ca);
  const credential = caCredential(bundle, 'f');
  watch.hold([{ credential, value: ca.ca }]);
  const other = await makeCa('file-watch-2');
  const broken = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
  writeFileSync(bundle, broken + other.ca);
  await drive(timers, () => events.changes === 1);
  assert.equal(watch.bundle(credential.id)?.trim(), other.ca.trim());
  // Once per read (a late event of the same write may read it twice).
  assert.deepEqual([...new Set(events.warnings)], [`${bundle}: 1 of its 2 CA certificates do not parse and are left out`]);
  events.warnings.length = 0;
  writeFileSync(bundle, broken);
  await drive(timers, () => events.warnings.length > 0);
  assert.deepEqual(events.warnings, [`${bundle} holds no CA certificate after a change: the last good certificate is served`]);
  assert.equal(watch.bundle(credential.id)?.trim(), other.ca.trim());
  watch.close();
});

test('one watch per directory, however many credentials are in it; closed with the last of them, pending reads too', async () => {
  const { dir, timers, watch } = setup();
  const { a, pa, pb } = await twoHeldPairs(dir, watch);
  assert.deepEqual(watch.watchedDirs(), [dir]);
  watch.hold([{ credential: pb, value: a }]);
  assert.deepEqual(watch.watchedDirs(), [dir]);
  assert.equal(watch.keyPair(pa.id), undefined);
  writeFileSync(path.join(dir, 'b.crt'), a.cert);
  await until('the event', () => timers.pending.size === 1);
  watch.hold([]);
  assert.deepEqual(watch.watchedDirs(), []);
  assert.equal(timers.pending.size, 0, 'the pending read is cancelled');
});

test('a directory that cannot be watched is watched at the next listener update, whose different read is taken as a change', async () => {
  const { dir, timers, events, watch } = setup();
  const later = path.join(dir, 'later');
  const bundle = path.join(later, 'ca.pem');
  const credential = caCredential(bundle, 'f');
  watch.hold([{ credential, value: 'old' }]);
  assert.deepEqual(watch.watchedDirs(), []);
  assert.match(events.warnings[0] ?? '', new RegExp(`^cannot watch ${later} \\(ENOENT\\)`));
  mkdirSync(later);
  writeFileSync(bundle, ca.ca);
  watch.hold([{ credential, value: ca.ca }]);
  assert.deepEqual(watch.watchedDirs(), [later]);
  assert.equal(watch.bundle(credential.id), 'old', 'checked before it is served');
  await drive(timers, () => events.changes === 1);
  assert.equal(watch.bundle(credential.id)?.trim(), ca.ca.trim());
  watch.close();
});

test('an emptied pair (a file caught while rewritten in place) is not served', async () => {
  const { dir, timers, events, watch } = setup();
  const { cert, key, a, credential } = await heldPair(dir, watch);
  writeFileSync(cert, '');
  writeFileSync(key, '');
  await drive(timers, () => events.warnings.length > 0);
  assert.deepEqual(events.warnings, [`${cert} and ${key} are not a certificate and its key after a change: the last good certificate is served`]);
  assert.deepEqual(watch.keyPair(credential.id), a);
  watch.close();
});

test('an event of another file in the directory (a busy log) reads only the credentials naming it', async () => {
  const { dir, timers, watch } = setup();
  const { a } = await twoHeldPairs(dir, watch);
  writeFileSync(path.join(dir, 'access.log'), 'x');
  writeFileSync(path.join(dir, 'b.crt'), a.cert);
  await until('the event', () => timers.pending.size > 0);
  assert.equal(timers.pending.size, 1, 'only b is read again');
  watch.close();
});

test('a read overtaken by a change serves what it read, then reads again', async () => {
  const { dir, timers, events, watch } = setup();
  const cert = path.join(dir, 'tls.crt');
  const key = path.join(dir, 'tls.key');
  const [a, b] = [await issue(), await issue()];
  writeFileSync(cert, a.cert);
  writeFileSync(key, a.key);
  const inner = keyPairCredential({ file: cert }, { file: key }, 'f');
  let release = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const credential = {
    ...inner,
    load: async () => {
      await gate;
      return inner.load();
    },
  };
  watch.hold([{ credential, value: a }]);
  writeFileSync(cert, b.cert);
  writeFileSync(key, b.key);
  await until('the event', () => timers.pending.size > 0);
  timers.fire(FILE_DEBOUNCE_MS);
  // A change while the read is under way (here a listener update that read otherwise; an event alike).
  watch.hold([{ credential, value: { cert: 'other', key: 'other' } }]);
  release();
  await until('the read', () => events.changes === 1);
  assert.deepEqual(watch.keyPair(credential.id), b);
  assert.equal(timers.pending.size, 1, 'and it is read again');
  watch.close();
});

test('a directory removed and made again is watched again', async () => {
  const { dir: root, timers, watch } = setup();
  const dir = path.join(root, 'certs');
  mkdirSync(dir);
  const cert = path.join(dir, 'tls.crt');
  const key = path.join(dir, 'tls.key');
  const [a, b, c] = [await issue(), await issue(), await issue()];
  const write = (p: { cert: string; key: string }) => {
    writeFileSync(cert, p.cert);
    writeFileSync(key, p.key);
  };
  write(a);
  const credential = keyPairCredential({ file: cert }, { file: key }, 'f');
  watch.hold([{ credential, value: a }]);
  rmSync(dir, { recursive: true });
  mkdirSync(dir);
  write(b);
  await drive(timers, () => watch.keyPair(credential.id)?.cert === b.cert);
  // inotify ended the first watch: only a new one sees this.
  write(c);
  await drive(timers, () => watch.keyPair(credential.id)?.cert === c.cert);
  assert.deepEqual(watch.watchedDirs(), [dir]);
  watch.close();
});

test('a file symlinked into another directory: a change there is seen', async () => {
  const { dir: root, timers, watch } = setup();
  const real = path.join(root, 'real');
  const named = path.join(root, 'named');
  mkdirSync(real);
  mkdirSync(named);
  const [a, b] = [await issue(), await issue()];
  const put = (p: { cert: string; key: string }) => {
    writeFileSync(path.join(real, 'c.tmp'), p.cert);
    renameSync(path.join(real, 'c.tmp'), path.join(real, 'tls.crt'));
    writeFileSync(path.join(real, 'k.tmp'), p.key);
    renameSync(path.join(real, 'k.tmp'), path.join(real, 'tls.key'));
  };
  put(a);
  symlinkSync(path.join(real, 'tls.crt'), path.join(named, 'tls.crt'));
  symlinkSync(path.join(real, 'tls.key'), path.join(named, 'tls.key'));
  const credential = keyPairCredential({ file: path.join(named, 'tls.crt') }, { file: path.join(named, 'tls.key') }, 'f');
  watch.hold([{ credential, value: a }]);
  assert.deepEqual(watch.watchedDirs().sort(), [named, real]);
  put(b);
  await drive(timers, () => watch.keyPair(credential.id)?.cert === b.cert);
  watch.close();
});

test('a CA bundle of the PEM types node:tls takes is served; one ending in an unfinished block is read again', async () => {
  const { dir, timers, events, watch } = setup();
  const bundle = path.join(dir, 'ca.pem');
  writeFileSync(bundle, ca.ca);
  const credential = caCredential(bundle, 'f');
  watch.hold([{ credential, value: ca.ca }]);
  const [x, y] = [await makeCa('file-watch-4'), await makeCa('file-watch-5')];
  const trusted = x.ca.replaceAll('CERTIFICATE', 'TRUSTED CERTIFICATE');
  writeFileSync(bundle, trusted);
  await drive(timers, () => events.changes === 1);
  assert.equal(watch.bundle(credential.id), trusted);
  // Caught while being written: not served short of its last certificate.
  writeFileSync(bundle, x.ca + y.ca.slice(0, y.ca.length / 2));
  await drive(timers, () => [...timers.pending.values()].some((t) => t.ms > FILE_DEBOUNCE_MS));
  assert.equal(watch.bundle(credential.id), trusted);
  writeFileSync(bundle, x.ca + y.ca);
  await drive(timers, () => events.changes === 2);
  assert.equal(watch.bundle(credential.id), x.ca + y.ca);
  assert.deepEqual(events.warnings, []);
  watch.close();
});

test('a directory back after the retry budget is watched again (tried every REWATCH_MS, without end) and read', async () => {
  const { dir: root, timers, events, watch } = setup();
  const dir = path.join(root, 'certs');
  mkdirSync(dir);
  const { credential } = await heldPair(dir, watch);
  rmSync(dir, { recursive: true });
  await drive(timers, () => events.warnings.some((w) => w.endsWith('the last good certificate is served')));
  assert.deepEqual(watch.lostDirs(), [dir]);
  // Still not there: tried again later.
  assert.ok(timers.fire(REWATCH_MS));
  assert.deepEqual(watch.lostDirs(), [dir]);
  mkdirSync(dir);
  const b = await issue();
  writeFileSync(path.join(dir, 'tls.crt'), b.cert);
  writeFileSync(path.join(dir, 'tls.key'), b.key);
  assert.ok(timers.fire(REWATCH_MS));
  assert.deepEqual(watch.watchedDirs(), [dir]);
  // What was written while nothing watched is read.
  await drive(timers, () => watch.keyPair(credential.id)?.cert === b.cert);
  watch.close();
  assert.equal(timers.pending.size, 0);
});

test('a symlinked directory in the path (current -> v1) re-pointed to v2: the swap is seen', async () => {
  const { dir: root, timers, watch } = setup();
  const [a, b] = [await issue(), await issue()];
  for (const [v, p] of [['v1', a], ['v2', b]] as const) {
    mkdirSync(path.join(root, v));
    writeFileSync(path.join(root, v, 'tls.crt'), p.cert);
    writeFileSync(path.join(root, v, 'tls.key'), p.key);
  }
  symlinkSync('v1', path.join(root, 'current'));
  const credential = keyPairCredential({ file: path.join(root, 'current', 'tls.crt') }, { file: path.join(root, 'current', 'tls.key') }, 'f');
  watch.hold([{ credential, value: a }]);
  symlinkSync('v2', path.join(root, 'current.tmp'));
  renameSync(path.join(root, 'current.tmp'), path.join(root, 'current'));
  await drive(timers, () => watch.keyPair(credential.id)?.cert === b.cert);
  watch.close();
});

test('a pair held with no value (read mid-rotation at compile) is warned of, read until it loads, then served', async () => {
  const { dir, timers, events, watch } = setup();
  const cert = path.join(dir, 'tls.crt');
  const key = path.join(dir, 'tls.key');
  const [a, b] = [await issue(), await issue()];
  writeFileSync(cert, b.cert);
  writeFileSync(key, a.key);
  const credential = keyPairCredential({ file: cert }, { file: key }, 'f');
  watch.hold([{ credential, value: undefined }]);
  assert.equal(watch.keyPair(credential.id), undefined);
  assert.deepEqual(events.warnings, [`${cert} and ${key} are not a certificate and its key (being rotated?): its chains refuse handshakes until they are`]);
  // Said once: later listener and cluster updates that read it so again say nothing more.
  watch.hold([{ credential, value: undefined }]);
  watch.hold([{ credential, value: undefined }]);
  assert.equal(events.warnings.length, 1);
  assert.equal(readTimer(timers), FILE_DEBOUNCE_MS, 'read again without waiting for an event');
  writeFileSync(key, b.key);
  await drive(timers, () => events.changes === 1);
  assert.deepEqual(watch.keyPair(credential.id), { cert: b.cert, key: b.key });
  watch.close();
});
