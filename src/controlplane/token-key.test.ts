// The bootstrap-token key (token-key.ts) is created whole or not at all: a start that dies while
// writing it leaves no key file that blocks the next start, and starters racing agree on one key.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadTokenKey, tokenKeyFile } from './token-key.ts';

const MODULE = new URL('./token-key.ts', import.meta.url).href;
const load = (dir: string) => `import(${JSON.stringify(MODULE)}).then((m) => process.stdout.write(Buffer.from(m.loadTokenKey(${JSON.stringify(dir)}, true)).toString('hex')))`;

test('a start whose write of the key fails leaves no key file, so the next start makes one', (t) => {
  if (process.platform === 'win32') return t.skip('no ulimit');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'token-key-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A file size limit of 0 fails the first write (EFBIG; node ignores SIGXFSZ) after the file is created.
  const failed = spawnSync('sh', ['-c', 'ulimit -f 0; exec "$0" --input-type=module -e "$1"', process.execPath, load(dir)], { encoding: 'utf8' });
  assert.notEqual(failed.status, 0, failed.stdout);
  assert.deepEqual(readdirSync(dir), []);
  const key = loadTokenKey(dir, true);
  assert.equal(key.length, 32);
  assert.deepEqual(readdirSync(dir), [path.basename(tokenKeyFile(dir))]);
  assert.deepEqual(Buffer.from(loadTokenKey(dir, false)), Buffer.from(key));
});

test('starters racing for a new key all end up with the same one', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'token-key-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keys = await Promise.all(
    Array.from(
      { length: 6 },
      () =>
        new Promise<string>((resolve, reject) => {
          const child = spawn(process.execPath, ['--input-type=module', '-e', load(dir)], { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          child.stdout.on('data', (d: Buffer) => {
            out += d;
          });
          child.on('error', reject);
          child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}`))));
        }),
    ),
  );
  assert.equal(new Set(keys).size, 1);
  assert.equal(keys[0]?.length, 64);
  assert.deepEqual(readdirSync(dir), ['token-key']);
});
