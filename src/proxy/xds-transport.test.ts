// The proxy's TLS xDS flags: plaintext unless --xds-tls, which needs a readable PEM --root-cert.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { XdsTlsArgsError, xdsTlsTransport } from './xds-transport.ts';

test('flags: plaintext by default; --xds-tls with a root file; every misuse names its flag', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'or-xds-transport-'));
  try {
    const notPem = path.join(dir, 'not.pem');
    await writeFile(notPem, 'hello');
    assert.equal(xdsTlsTransport({}), undefined);
    for (const [flags, re] of [
      [{ rootCert: notPem }, /--root-cert is the root .* add --xds-tls/],
      [{ xdsServerName: 'x' }, /--xds-server-name .* add --xds-tls/],
      [{ xdsTls: true }, /--xds-tls needs --root-cert FILE/],
      [{ xdsTls: true, rootCert: path.join(dir, 'missing.pem') }, /--root-cert: cannot read .*missing\.pem/],
      [{ xdsTls: true, rootCert: notPem }, /--root-cert: .*not\.pem holds no PEM certificate/],
    ] as const) {
      assert.throws(() => xdsTlsTransport(flags), (err: Error) => err instanceof XdsTlsArgsError && re.test(err.message), JSON.stringify(flags));
    }
  } finally {
    await rm(dir, { recursive: true });
  }
});
