// `exec` without `--`: a command with options is refused with the line that works, since exec would
// read those options as its own; a command without options runs as written.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { component, meshState } from '../../test/mesh-state-fixture.ts';
import { checkExecArgs } from './exec.ts';
import { main } from './main.ts';

test('checkExecArgs: what needs --, and the line it suggests', () => {
  const ok: string[][] = [
    ['deploy/podinfo-stable', '--', 'curl', '-s', 'http://x/'],
    ['-n', 'podinfo', 'deploy/podinfo-stable', '--', 'curl', '-c', 'jar'],
    ['deploy/podinfo-stable', 'env'],
    ['deploy/podinfo-stable', '-n', 'podinfo', 'curl', 'http://x/'],
    ['--help'],
    ['-x', 'deploy/podinfo-stable', 'curl', '-s'], // an unknown option before the workload: commander says so
    [],
  ];
  for (const tokens of ok) assert.doesNotThrow(() => checkExecArgs(tokens), tokens.join(' '));
  const refused: [string[], RegExp][] = [
    [['deploy/podinfo-stable', 'curl', '-s', 'http://x/'], /^put -- before the command, or its options \(-s\) are read as exec's own: outrigger exec deploy\/podinfo-stable -- curl -s http:\/\/x\/$/],
    [['deploy/podinfo-stable', '-n', 'podinfo', 'curl', '-c', 'a jar', 'http://x/?a=1'], /: outrigger exec -n podinfo deploy\/podinfo-stable -- curl -c 'a jar' 'http:\/\/x\/\?a=1'$/],
    [['--namespace=podinfo', 'deploy/podinfo-stable', 'sh', '-c', "echo 'hi'"], /: outrigger exec --namespace=podinfo deploy\/podinfo-stable -- sh -c 'echo '\\''hi'\\'''$/],
    [['-n', 'podinfo', 'deploy/podinfo-stable', '--'], /^no command given; put it after --: outrigger exec -n podinfo deploy\/podinfo-stable -- CMD \[ARGS\.\.\.\]$/],
    [['deploy/podinfo-stable'], /^no command given/],
    // exec's own long options after the command are exec's, not the command's: the line puts them first.
    [['deploy/podinfo-stable', 'curl', '-s', 'http://x/', '--dir', '/tmp/m'], /^put -- before the command, or its options \(-s\) are read as exec's own: outrigger exec --dir \/tmp\/m deploy\/podinfo-stable -- curl -s http:\/\/x\/$/],
    [['podinfo-stable-0', 'curl', 'http://x/', '--namespace=podinfo', '--dir', '/tmp/m'], /^put exec's own options \(--namespace=podinfo --dir \/tmp\/m\) before the workload, and the command after --: outrigger exec --namespace=podinfo --dir \/tmp\/m podinfo-stable-0 -- curl http:\/\/x\/$/],
  ];
  for (const [tokens, re] of refused) assert.throws(() => checkExecArgs(tokens), (err: Error & { code?: string }) => err.code === 'EXEC_ARGS' && re.test(err.message), tokens.join(' '));
});

test('exec: a command with options and no -- is one line with the fix, exit 64 (usage), nothing run; without options it runs', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cli-exec-'));
  writeFileSync(path.join(dir, 'state.json'), JSON.stringify(meshState([component('podinfo/podinfo-stable-0', 'workload')])));
  const err: string[] = [];
  const writeErr = process.stderr.write;
  process.stderr.write = ((c: string) => err.push(String(c)) > 0) as typeof process.stderr.write;
  try {
    // Without the check, -n would be taken for exec's --namespace ("hi"), and echo run without it.
    assert.equal(await main(['node', 'outrigger', 'exec', '--dir', dir, 'podinfo-stable-0', 'echo', '-n', 'hi']), 64);
    assert.equal(await main(['node', 'outrigger', 'exec', '--dir', dir, 'podinfo-stable-0', 'true']), 0);
  } finally {
    process.stderr.write = writeErr;
    process.exitCode = 0;
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(err, [`outrigger exec: put -- before the command, or its options (-n) are read as exec's own: outrigger exec --dir ${dir} podinfo-stable-0 -- echo -n hi\n`]);
});
