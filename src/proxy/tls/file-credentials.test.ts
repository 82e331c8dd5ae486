// File credentials read when a listener arrives: only a regular file of at most 1 MiB, so a Gateway
// naming a FIFO or a device cannot hold the proxy's event loop or fill its heap; the refusal names the
// file and not why (whether it exists), keeping the errno as the error's cause for the operator.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants, mkdtempSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mock, test } from 'node:test';
import tls from 'node:tls';
import { makeCa } from '../../../test/proxy/certs.ts';
import { caCredential, checkKeyPair, MAX_PEM_BYTES, readFileCert, readFileRoot } from './file-credentials.ts';
import { TlsConfigError } from './server-tls-params.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'file-cred-'));

/** The refusal of `read`: its message, and the errno code of its cause. */
function refusal(read: () => unknown): { message: string; code: unknown } {
  try {
    read();
  } catch (err) {
    assert.ok(err instanceof TlsConfigError, String(err));
    return { message: err.message, code: (err.cause as NodeJS.ErrnoException | undefined)?.code };
  }
  assert.fail('read');
}

test('a regular file is read', () => {
  const f = path.join(dir, 'ca.pem');
  writeFileSync(f, '-----BEGIN CERTIFICATE-----\n');
  assert.equal(readFileRoot(`file-root:${f}`, 'f'), '-----BEGIN CERTIFICATE-----\n');
});

test('a FIFO is refused at once, without waiting for a writer', () => {
  const fifo = path.join(dir, 'p');
  execFileSync('mkfifo', [fifo]);
  const t0 = Date.now();
  assert.deepEqual(refusal(() => readFileCert(`file-cert:${fifo}~${fifo}`, 'f')), { message: `cannot read ${fifo}`, code: 'EFTYPE' });
  assert.ok(Date.now() - t0 < 1000);
});

test('a FIFO is never opened: a writer waiting on it is not released', async () => {
  const fifo = path.join(dir, 'w');
  execFileSync('mkfifo', [fifo]);
  // A writer's open waits in the thread pool until some reader opens the FIFO.
  let released = false;
  const writer = open(fifo, 'w').then((h) => {
    released = true;
    return h;
  });
  assert.equal(refusal(() => readFileRoot(`file-root:${fifo}`, 'f')).code, 'EFTYPE');
  await new Promise((r) => setTimeout(r, 200));
  const wasReleased = released;
  const reader = await open(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  await (await writer).close();
  await reader.close();
  assert.equal(wasReleased, false, 'readFileRoot opened the FIFO');
});

test('a device is refused, not read without end', () => {
  assert.deepEqual(refusal(() => readFileRoot('file-root:/dev/zero', 'f')), { message: 'cannot read /dev/zero', code: 'EFTYPE' });
});

test('a file over 1 MiB is refused', () => {
  const big = path.join(dir, 'big.pem');
  writeFileSync(big, Buffer.alloc(MAX_PEM_BYTES + 1, 0x41));
  assert.deepEqual(refusal(() => readFileRoot(`file-root:${big}`, 'f')), { message: `cannot read ${big}`, code: 'EFBIG' });
});

test('a missing and an unreadable file are refused alike: the message does not tell which', () => {
  const missing = path.join(dir, 'missing.pem');
  const r = refusal(() => readFileRoot(`file-root:${missing}`, 'f'));
  assert.deepEqual(r, { message: `cannot read ${missing}`, code: 'ENOENT' });
});

test('read again after a change (off the event loop), a file is held to the same rules', async () => {
  const big = path.join(dir, 'big-again.pem');
  writeFileSync(big, Buffer.alloc(MAX_PEM_BYTES + 1, 0x41));
  for (const [file, code] of [
    [big, 'EFBIG'],
    ['/dev/zero', 'EFTYPE'],
  ] as const) {
    const err = await caCredential(file, 'f')
      .load()
      .then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof TlsConfigError, String(err));
    assert.deepEqual({ message: err.message, code: (err.cause as NodeJS.ErrnoException | undefined)?.code }, { message: `cannot read ${file}`, code });
  }
});

test('a pair is checked once while its files read the same: every listener or cluster update compiles it again', async () => {
  const ca = await makeCa('file-cred-check');
  const [a, b] = [await ca.issueWithSans([{ type: 'dns', value: 'a.example' }]), await ca.issueWithSans([{ type: 'dns', value: 'b.example' }])];
  const built = mock.method(tls, 'createSecureContext');
  try {
    const check = (pair: { cert: string; key: string }) => checkKeyPair(pair, path.join(dir, 'once.crt'), path.join(dir, 'once.key'), 'f');
    check(a);
    check(a);
    assert.equal(built.mock.callCount(), 1);
    check(b);
    assert.equal(built.mock.callCount(), 2, 'a new read is checked');
    assert.throws(() => check({ cert: a.cert, key: b.key }), /are not a certificate and its key/);
    assert.throws(() => check({ cert: a.cert, key: b.key }), /are not a certificate and its key/, 'a pair that failed is not remembered');
  } finally {
    built.mock.restore();
  }
});
