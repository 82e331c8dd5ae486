// loadPaths over real files: directory walking, stdin, and hostile input that must end in a
// diagnostic (never a throw) in bounded time.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadBytes, loadPaths, loadText } from './load.ts';

const tmp = mkdtempSync(join(tmpdir(), 'load-paths-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const sa = (name: string) => `apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ${name}, namespace: podinfo}\n`;

test('directories are walked recursively, *.yaml and *.yml only, in sorted order', () => {
  const root = join(tmp, 'tree');
  mkdirSync(join(root, 'b', 'deeper'), { recursive: true });
  mkdirSync(join(root, '.hidden'));
  writeFileSync(join(root, 'b', 'deeper', 'one.yml'), sa('one'));
  writeFileSync(join(root, 'a.yaml'), sa('a'));
  writeFileSync(join(root, 'notes.txt'), 'not yaml: [');
  writeFileSync(join(root, '.hidden', 'x.yaml'), sa('hidden'));
  symlinkSync(root, join(root, 'b', 'loop'));
  const { resources, diagnostics } = loadPaths([root]);
  assert.deepEqual(diagnostics, []);
  assert.deepEqual(
    resources.map((r) => r.metadata.name),
    ['a', 'one'],
  );
  assert.equal(resources[1]?.origin?.span.file, join(root, 'b', 'deeper', 'one.yml'));
});

test('- reads stdin', () => {
  const { resources } = loadPaths(['-'], { readStdin: () => Buffer.from(sa('piped')) });
  assert.equal(resources[0]?.metadata.name, 'piped');
  assert.equal(resources[0]?.origin?.span.file, '<stdin>');
});

test('invalid UTF-8 and binary bytes: one located diagnostic', () => {
  const bad = loadBytes(Buffer.concat([Buffer.from('a: 1\nb: é'), Buffer.from([0xc3, 0x28])]), 'u.yaml');
  assert.deepEqual(
    bad.diagnostics.map((d) => [d.code, d.span?.start.line, d.span?.start.col]),
    [['OR1005', 2, 5]],
  );
  const bin = loadBytes(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x00, 0x00]), 'bin.yaml');
  assert.deepEqual(
    bin.diagnostics.map((d) => d.code),
    ['OR1005'],
  );
});

test('a 10 MB document and deep nesting end in bounded time with at most a few diagnostics', () => {
  // A plain scalar: yaml's double-quoted path is linear too, but ~1 s/MB, too slow for a unit test.
  const big = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  blob: ${'x'.repeat(10 * 1024 * 1024)}\n`;
  const r = loadText(big, 'big.yaml');
  assert.deepEqual(r.diagnostics, []);
  assert.equal(r.resources.length, 1);
  const flow = loadText('['.repeat(5000), 'flow.yaml');
  assert.ok(flow.diagnostics.length > 0 && flow.diagnostics.length <= 20);
  const block = loadText(Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i)}a:`).join('\n'), 'block.yaml');
  assert.ok(block.diagnostics.length >= 1);
  assert.ok(block.diagnostics.every((d) => d.code.startsWith('OR10')));
});

test('a billion-laughs document is refused', () => {
  const levels = ['a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    levels.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(', ')}]`);
  }
  const r = loadText(levels.join('\n'), 'lol.yaml');
  assert.deepEqual(
    r.diagnostics.map((d) => d.code),
    ['OR1006'],
  );
});
