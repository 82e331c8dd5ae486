import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { buildJsTree, stripFile } from './js-build.ts';

test('types are stripped and relative .ts specifiers point at the .js copies; packages are untouched', () => {
  const out = stripFile(`import type { A } from './a.ts';\nimport { b } from '../b.ts';\nimport x from 'yaml';\nconst m = await import('./c.ts');\nexport const n: number = 1 as number;\n`);
  assert.match(out, /from '\.\.\/b\.js'/);
  assert.match(out, /import\('\.\/c\.js'\)/);
  assert.match(out, /from 'yaml'/);
  assert.doesNotMatch(out, /: number|as number|import type/);
});

test('the stripped copy of the CLI runs without TypeScript support, and a second build writes nothing', () => {
  const repo = path.resolve(import.meta.dirname, '../..');
  const out = path.join(repo, 'node_modules', '.cache', `outrigger-js-test-${process.pid}`);
  try {
    const first = buildJsTree(repo, out);
    assert.ok(first.written > 50);
    assert.equal(buildJsTree(repo, out).written, 0);
    const help = spawnSync(process.execPath, ['--no-experimental-strip-types', first.bin, 'proxy-host', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /--spec <file>/);
    assert.ok(readFileSync(path.join(out, 'src/xds/proto/istio/v1/auth/ca.proto'), 'utf8').length > 0, 'protos travel with the copy');
    // A copy written from other sources, even later than its source, is replaced.
    const copy = path.join(out, 'src/runtime/indent.js');
    writeFileSync(copy, 'export const broken = true;\n');
    const later = new Date(Date.now() + 60_000);
    utimesSync(copy, later, later);
    assert.equal(buildJsTree(repo, out).written, 1);
    assert.doesNotMatch(readFileSync(copy, 'utf8'), /broken/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
