// explain's refusals read as every command's do: `outrigger explain: ...`, one line, exit 1.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from './main.ts';

const seed = fileURLToPath(new URL('../../examples/seed', import.meta.url));

test('explain: a --from no proxy has is one line prefixed as every command, exit 1', async () => {
  const err: string[] = [];
  const [error, write] = [console.error, process.stdout.write];
  console.error = (line: string) => void err.push(line);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    assert.equal(await main(['node', 'outrigger', 'explain', '-f', seed, '--from', 'nosuch', '--to', 'http://podinfo.podinfo:9898/']), 1);
  } finally {
    [console.error, process.stdout.write] = [error, write];
    process.exitCode = 0;
  }
  assert.equal(err.length, 1, err.join('\n'));
  assert.match(err[0] ?? '', /^outrigger explain: no proxy matches "nosuch" /);
});
