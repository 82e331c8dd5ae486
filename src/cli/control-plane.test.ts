// Where `outrigger control-plane` binds its TLS xDS port, from its flags.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ControlPlaneArgsError, xdsTlsBindAddress } from './control-plane.ts';

test('the TLS xDS port: 15012 on --host with --ca-dir, elsewhere on request, off without a kept root', () => {
  const base = { xdsTls: true, host: '127.0.0.1' };
  const rows: [Parameters<typeof xdsTlsBindAddress>[0], string | undefined][] = [
    [{ ...base, caDir: 'ca' }, '127.0.0.1:15012'],
    [{ ...base, caDir: 'ca', xdsTlsPort: '0' }, '127.0.0.1:0'],
    [{ ...base, caDir: 'ca', xdsTlsAddress: '0.0.0.0:15012' }, '0.0.0.0:15012'],
    [{ ...base, caDir: 'ca', xdsTlsPort: '1', xdsTlsAddress: '0.0.0.0:2' }, '0.0.0.0:2'],
    [{ ...base, caDir: 'ca', xdsTls: false }, undefined],
    [base, undefined],
  ];
  for (const [flags, want] of rows) assert.equal(xdsTlsBindAddress(flags), want, JSON.stringify(flags));
});

test('asking for TLS without --ca-dir, or a malformed port, is refused with the flag named', () => {
  for (const [flags, re] of [
    [{ xdsTls: true, host: '127.0.0.1', xdsTlsPort: '15012' }, /--ca-dir/],
    [{ xdsTls: true, host: '127.0.0.1', caDir: 'ca', xdsTlsPort: 'x' }, /--xds-tls-port: "x"/],
    [{ xdsTls: true, host: '127.0.0.1', caDir: 'ca', xdsTlsAddress: '15012' }, /--xds-tls-address: "15012" is not HOST:PORT/],
  ] as const) {
    assert.throws(() => xdsTlsBindAddress(flags), (err: Error) => err instanceof ControlPlaneArgsError && re.test(err.message));
  }
});
