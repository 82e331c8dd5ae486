// The token key kept beside the CA, and `outrigger token`: a token issued by the CLI from the key file
// is accepted by a control plane started on the same CA directory (a restart included), and refused by
// one with another key; a missing or damaged key file is a clear error, never a silent new key.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { BootstrapTokens } from '../../src/controlplane/bootstrap-tokens.ts';
import { loadTokenKey, tokenKeyFile } from '../../src/controlplane/token-key.ts';

const bin = path.resolve(import.meta.dirname, '../../bin/outrigger.mjs');
const dir = mkdtempSync(path.join(os.tmpdir(), 'or-token-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function outrigger(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

test('the key is made once (32 bytes, mode 0600) and read back the same', () => {
  const ca = path.join(dir, 'ca-a');
  const first = loadTokenKey(ca, true);
  assert.equal(first.length, 32);
  assert.equal(statSync(tokenKeyFile(ca)).mode & 0o777, 0o600);
  assert.deepEqual(Buffer.from(loadTokenKey(ca, true)), Buffer.from(first));
  assert.deepEqual(Buffer.from(loadTokenKey(ca, false)), Buffer.from(first));
});

test('a missing key is not created on read, and a damaged one is refused', () => {
  assert.throws(() => loadTokenKey(path.join(dir, 'nothing'), false), { code: 'TOKEN_KEY', message: /no token key in .*nothing: start `outrigger control-plane --ca-dir/ });
  const ca = path.join(dir, 'ca-short');
  loadTokenKey(ca, true);
  writeFileSync(tokenKeyFile(ca), 'short');
  assert.throws(() => loadTokenKey(ca, true), { code: 'TOKEN_KEY', message: /holds 5 bytes, not a 32-byte token key/ });
});

test('outrigger token issues a token the key verifies for exactly that identity; another key refuses it', async () => {
  const ca = path.join(dir, 'ca-cli');
  const key = loadTokenKey(ca, true);
  const out = path.join(dir, 'api.token');
  const r = await outrigger(['token', '--ca-dir', ca, '-n', 'shop', '--service-account', 'api', '--workload', 'api', '-o', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statSync(out).mode & 0o777, 0o600);
  const printed = await outrigger(['token', '--ca-dir', ca, '-n', 'shop', '--service-account', 'api', '--workload', 'api']);
  const token = printed.stdout.trim();
  assert.deepEqual(new BootstrapTokens(key).verify(token), { namespace: 'shop', serviceAccount: 'api', workload: 'api' });
  assert.equal(new BootstrapTokens(loadTokenKey(path.join(dir, 'ca-other'), true)).verify(token), undefined);
});

test('outrigger token without a key names --ca-dir, says how to make one and exits 64 (usage)', async () => {
  const missing = path.join(dir, 'empty');
  const r = await outrigger(['token', '--ca-dir', missing, '-n', 'shop', '--service-account', 'api', '--workload', 'api']);
  assert.equal(r.code, 64);
  assert.equal(r.stderr, `outrigger token: --ca-dir ${missing}: no such directory; start \`outrigger control-plane --ca-dir ${missing}\` once to create it (\`outrigger up\` keeps its CA in .outrigger/ca)\n`);
  assert.equal(r.stdout, '');
  const keyless = path.join(dir, 'keyless');
  mkdirSync(keyless);
  assert.match((await outrigger(['token', '--ca-dir', keyless, '-n', 'shop', '--service-account', 'api', '--workload', 'api'])).stderr, /^outrigger token: --ca-dir .*keyless: no token key in it \(token-key\); start `outrigger control-plane --ca-dir /);
});

test('outrigger token -o into a directory that is not there names -o and the file, exit 64 (usage), no stack', async () => {
  const ca = path.join(dir, 'ca-out');
  loadTokenKey(ca, true);
  const out = path.join(dir, 'no-such-dir', 'api.token');
  const r = await outrigger(['token', '--ca-dir', ca, '-n', 'shop', '--service-account', 'api', '--workload', 'api', '-o', out]);
  assert.equal(r.code, 64);
  assert.equal(r.stderr, `outrigger token: -o ${out}: cannot write the token: no such file or directory\n`);
});

test('outrigger token --duration makes a token that expires then; a duration that is none is refused, exit 64', async () => {
  const ca = path.join(dir, 'ca-duration');
  const key = loadTokenKey(ca, true);
  const before = Date.now();
  const r = await outrigger(['token', '--ca-dir', ca, '-n', 'shop', '--service-account', 'api', '--workload', 'api', '--duration', '24h']);
  assert.equal(r.code, 0, r.stderr);
  const token = r.stdout.trim();
  const expiry = BootstrapTokens.expiresAt(token) as number;
  assert.ok(expiry >= Math.floor(before / 1000) * 1000 + 86_400_000 && expiry <= Date.now() + 86_400_000, String(expiry));
  const tokens = new BootstrapTokens(key);
  assert.deepEqual(tokens.verify(token, expiry - 1), { namespace: 'shop', serviceAccount: 'api', workload: 'api' });
  assert.equal(tokens.verify(token, expiry), undefined);
  for (const bad of ['soon', '0s', '500ms']) {
    const refused = await outrigger(['token', '--ca-dir', ca, '-n', 'shop', '--service-account', 'api', '--workload', 'api', '--duration', bad]);
    assert.equal(refused.code, 64, bad);
    assert.equal(refused.stderr, `outrigger token: --duration: "${bad}" is not a duration of a second or more, like 24h or 90m, nor never\n`);
  }
});

test('outrigger token holds a day by default, and only --duration never makes one without an expiry', async () => {
  const ca = path.join(dir, 'ca-default');
  loadTokenKey(ca, true);
  const args = ['token', '--ca-dir', ca, '-n', 'shop', '--service-account', 'api', '--workload', 'api'];
  const before = Date.now();
  const byDefault = (await outrigger(args)).stdout.trim();
  const expiry = BootstrapTokens.expiresAt(byDefault) as number;
  assert.ok(expiry >= Math.floor(before / 1000) * 1000 + 86_400_000 && expiry <= Date.now() + 86_400_000, String(expiry));
  const never = await outrigger([...args, '--duration', 'never']);
  assert.equal(never.code, 0, never.stderr);
  assert.equal(BootstrapTokens.expiresAt(never.stdout.trim()), undefined);
});
