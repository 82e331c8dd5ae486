// Where `outrigger control-plane` binds its TLS xDS port, from its flags; bad CA settings in its YAML.
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

test("bad CA lifetimes in the watched YAML: each shown at its place, exit 1 (a finding, as analyze's), nothing started", async () => {
  const { existsSync, mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const { Command } = await import('commander');
  const { define } = await import('./control-plane.ts');
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cp-cli-'));
  const file = path.join(dir, 'mesh.yaml');
  writeFileSync(file, 'apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: { name: mesh, namespace: istio-system }\nspec:\n  values: { pilot: { env: { MAX_WORKLOAD_CERT_TTL: 2d } } }\n');
  const program = new Command('outrigger').exitOverride();
  define(program);
  const written: string[] = [];
  const write = process.stderr.write;
  const exitCode = process.exitCode;
  process.stderr.write = ((chunk: string) => written.push(String(chunk)) > 0) as typeof process.stderr.write;
  let code: typeof process.exitCode;
  let caWritten: boolean;
  try {
    await program.parseAsync(['node', 'outrigger', 'control-plane', '-f', dir, '--ca-dir', path.join(dir, 'ca'), '--xds-port', '0', '--xds-tls-port', '0', '--debug-port', '0']);
    code = process.exitCode;
    caWritten = existsSync(path.join(dir, 'ca'));
  } finally {
    process.stderr.write = write;
    process.exitCode = exitCode;
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(code, 1);
  assert.equal(caWritten, false, 'no root made');
  const out = written.join('');
  assert.match(out, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:52: error OR1025 IstioOperator istio-system/mesh: spec\\.values\\.pilot\\.env\\.MAX_WORKLOAD_CERT_TTL: "2d" is not a duration`));
  assert.match(out, /\n {2}5 \| .*\n {4}\| {52}\^\^\n {2}fix: Write a Go duration in h, m or s, such as 24h or 87600h; Go has no d or y unit\.\n/);
  assert.match(out, /outrigger control-plane: the certificate authority's settings are invalid; nothing was started\n$/);
});

test('a port that is not a number is refused at parse time; a taken one is named with its holder and flag, nothing started', async () => {
  const net = await import('node:net');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const { Command, CommanderError } = await import('commander');
  const { define } = await import('./control-plane.ts');
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cp-ports-'));
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const busy = (holder.address() as import('node:net').AddressInfo).port;
  const written: string[] = [];
  const write = process.stderr.write;
  const exitCode = process.exitCode;
  process.stderr.write = ((chunk: string) => written.push(String(chunk)) > 0) as typeof process.stderr.write;
  const run = async (...args: string[]) => {
    const program = new Command('outrigger').exitOverride();
    define(program);
    await program.parseAsync(['node', 'outrigger', 'control-plane', '-f', dir, '--no-xds-tls', ...args]);
  };
  let code: typeof process.exitCode;
  try {
    await assert.rejects(run('--xds-port', 'abc'), (err: Error) => err instanceof CommanderError && /--xds-port <port>' argument 'abc' is invalid/.test(err.message));
    await assert.rejects(run('--debug-port', '70000'), (err: Error) => err instanceof CommanderError);
    await run('--xds-port', String(busy), '--debug-port', '0');
    code = process.exitCode;
  } finally {
    process.stderr.write = write;
    process.exitCode = exitCode;
    holder.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(code, 1);
  assert.match(written.join(''), new RegExp(`outrigger control-plane: port ${busy} is already in use by pid ${process.pid} \\(.+\\) \\(--xds-port\\); free it or choose another port with --xds-port\\n`));
});

test('a --ca-dir holding a CA that does not load is one line naming it, exit 1 (a failure, not usage), nothing started', async () => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const { Command } = await import('commander');
  const { define } = await import('./control-plane.ts');
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cp-ca-'));
  // Half of Istio's cacerts layout: a certificate without its key.
  writeFileSync(path.join(dir, 'ca-cert.pem'), '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
  const written: string[] = [];
  const write = process.stderr.write;
  const exitCode = process.exitCode;
  process.stderr.write = ((chunk: string) => written.push(String(chunk)) > 0) as typeof process.stderr.write;
  let code: typeof process.exitCode;
  try {
    const program = new Command('outrigger').exitOverride();
    define(program);
    process.exitCode = 0;
    await program.parseAsync(['node', 'outrigger', 'control-plane', '-f', dir, '--ca-dir', dir, '--xds-port', '0', '--xds-tls-port', '0', '--debug-port', '0']);
    code = process.exitCode;
  } finally {
    process.stderr.write = write;
    process.exitCode = exitCode;
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(code, 1);
  assert.match(written.join(''), /^outrigger control-plane: --ca-dir .*: .*must hold both ca-cert\.pem and ca-key\.pem; nothing was started\n$/);
});

test('an address or path the flags got wrong is one line naming the flag, exit 64 (usage), nothing started', async () => {
  const { mkdtempSync, rmSync, writeFileSync, existsSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const { Command } = await import('commander');
  const { define } = await import('./control-plane.ts');
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cp-args-'));
  const file = path.join(dir, 'not-a-dir');
  writeFileSync(file, '');
  const written: string[] = [];
  const write = process.stderr.write;
  const exitCode = process.exitCode;
  process.stderr.write = ((chunk: string) => written.push(String(chunk)) > 0) as typeof process.stderr.write;
  const codes: (typeof process.exitCode)[] = [];
  const run = async (...args: string[]) => {
    const program = new Command('outrigger').exitOverride();
    define(program);
    process.exitCode = 0;
    await program.parseAsync(['node', 'outrigger', 'control-plane', '--xds-port', '0', '--debug-port', '0', ...args]);
    codes.push(process.exitCode);
  };
  try {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine.
    await run('-f', dir, '--no-xds-tls', '--host', '192.0.2.1');
    await run('-f', dir, '--no-xds-tls', '--host', 'no-such-host.invalid');
    await run('-f', dir, '--ca-dir', path.join(dir, 'ca'), '--xds-tls-address', '192.0.2.1:0');
    await run('-f', path.join(dir, 'missing'), '--no-xds-tls');
    await run('-f', dir, '--no-xds-tls', '--ca-dir', file);
  } finally {
    process.stderr.write = write;
    process.exitCode = exitCode;
  }
  const made = existsSync(path.join(dir, 'ca'));
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(codes, [64, 64, 64, 64, 64]);
  assert.equal(made, false, 'no CA made');
  assert.deepEqual(written, [
    'outrigger control-plane: --host 192.0.2.1: not an address of this machine (EADDRNOTAVAIL); use 127.0.0.1, 0.0.0.0 or one of its own addresses\n',
    written[1]?.startsWith('outrigger control-plane: --host no-such-host.invalid: cannot resolve that name (') ? written[1] : 'a line naming --host no-such-host.invalid',
    'outrigger control-plane: --xds-tls-address 192.0.2.1: not an address of this machine (EADDRNOTAVAIL); use 127.0.0.1, 0.0.0.0 or one of its own addresses\n',
    `outrigger control-plane: -f ${path.join(dir, 'missing')}: no such file or directory\n`,
    `outrigger control-plane: --ca-dir ${file}: not a directory\n`,
  ]);
});
