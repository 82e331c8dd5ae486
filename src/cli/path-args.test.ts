// Flags that name a file or directory: checked before use, each failure one line naming the flag and the path.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { main } from './main.ts';
import { requireDirectoryIfPresent, requireExistingPaths, requireReadableFile } from './path-args.ts';

test('each check passes what is there and names the flag and path of what is not', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-path-args-'));
  const file = path.join(dir, 'f');
  writeFileSync(file, 'x');
  try {
    requireReadableFile(file, '--token-file');
    requireExistingPaths([dir, file, '-'], '-f');
    requireDirectoryIfPresent(dir, '--ca-dir');
    requireDirectoryIfPresent(path.join(dir, 'made-later'), '--ca-dir');
    const refused: [() => void, string][] = [
      [() => requireReadableFile(path.join(dir, 'none'), '--token-file'), `--token-file ${path.join(dir, 'none')}: no such file or directory`],
      [() => requireReadableFile(dir, '--token-file'), `--token-file ${dir}: is a directory, not a file`],
      [() => requireReadableFile(path.join(file, 'x'), '--root-cert'), `--root-cert ${path.join(file, 'x')}: a part of the path is not a directory`],
      [() => requireExistingPaths([dir, path.join(dir, 'none')], '-f'), `-f ${path.join(dir, 'none')}: no such file or directory`],
      [() => requireDirectoryIfPresent(file, '--ca-dir'), `--ca-dir ${file}: not a directory`],
    ];
    for (const [check, message] of refused) assert.throws(check, { code: 'PATH_ARG', message });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('explain -f naming nothing is one line and exit 64 (usage), not a trace of a mesh without it', async () => {
  const missing = path.join(tmpdir(), 'or-no-such-mesh-dir');
  const err: string[] = [];
  const [writeErr, error] = [process.stderr.write, console.error];
  process.stderr.write = ((c: string) => err.push(String(c)) > 0) as typeof process.stderr.write;
  console.error = (line: string) => void err.push(`${line}\n`);
  try {
    assert.equal(await main(['node', 'outrigger', 'explain', '--from', 'ingress', '--to', 'http://podinfo.example.com/', '-f', missing]), 64);
  } finally {
    [process.stderr.write, console.error] = [writeErr, error];
    process.exitCode = 0;
  }
  assert.deepEqual(err, [`outrigger explain: -f ${missing}: no such file or directory\n`]);
});
