// One fixture per OR1xxx code: each file's first line says the code, field path and line:col it must
// produce (`# expect: CODE field line:col`, `-` for no field). Codes without a file are built here.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { configCatalogue } from '../src/config/codes.ts';
import { loadPaths } from '../src/config/load.ts';

const dir = join(import.meta.dirname, 'fixtures', 'config');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
const covered = new Set<string>();

for (const file of files) {
  const head = readFileSync(join(dir, file), 'latin1').split('\n', 1)[0] ?? '';
  const m = /^# expect: (OR\d{4}) (\S+) (\d+):(\d+)$/.exec(head);
  assert.ok(m, `${file}: first line must be "# expect: CODE field line:col"`);
  const [, code, field, line, col] = m;
  covered.add(code as string);
  test(`${code} fixture ${file}`, () => {
    const path = join(dir, file);
    const { diagnostics } = loadPaths([path]);
    const found = diagnostics.find((d) => d.code === code);
    assert.ok(found, `${code} not reported; got ${diagnostics.map((d) => d.code).join(', ') || 'nothing'}`);
    assert.equal(found.field ?? '-', field);
    assert.equal(`${found.span?.file}:${found.span?.start.line}:${found.span?.start.col}`, `${path}:${line}:${col}`);
    assert.ok(found.message.length > 0 && found.fix, 'a diagnostic carries a message and a fix');
  });
}

test('OR1004: a file over 16 MiB is refused before it is read', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'or1004-'));
  try {
    const big = join(tmp, 'big.yaml');
    writeFileSync(big, '');
    truncateSync(big, 17 * 1024 * 1024); // sparse: costs no disk
    const { diagnostics } = loadPaths([big]);
    assert.deepEqual(
      diagnostics.map((d) => [d.code, `${d.span?.start.line}:${d.span?.start.col}`]),
      [['OR1004', '1:1']],
    );
    covered.add('OR1004');
  } finally {
    rmSync(tmp, { recursive: true });
  }
});

test('OR1007: a missing path is reported, not thrown', () => {
  const { diagnostics } = loadPaths(['/nonexistent/outrigger/manifests']);
  assert.equal(diagnostics[0]?.code, 'OR1007');
  assert.equal(diagnostics[0]?.span?.file, '/nonexistent/outrigger/manifests');
  covered.add('OR1007');
});

test('every catalogue code has a test', () => {
  const missing = configCatalogue.map((c) => c.code).filter((c) => !covered.has(c));
  assert.deepEqual(missing, []);
});
