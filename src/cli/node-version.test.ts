// An older Node (a Debian system's is 20) running the binary is told in one line what to run, not left
// with ERR_UNKNOWN_FILE_EXTENSION ".ts" from deep in a module load.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
// @ts-expect-error: plain JavaScript, so that any Node can load it.
import { nodeTooOld } from '../../bin/node-version.mjs';

const bin = path.join(import.meta.dirname, '..', '..', 'bin', 'outrigger.mjs');

test('Node 24 and newer run; an older one gets one line naming the version and the fix', () => {
  assert.equal(nodeTooOld('v24.21.0'), undefined);
  assert.equal(nodeTooOld('v25.1.0'), undefined);
  assert.equal(nodeTooOld(process.version), undefined, 'the Node the tests run on');
  const line = nodeTooOld('v20.19.2') as string;
  assert.match(line, /^outrigger: needs Node 24 or newer, and this is Node v20\.19\.2\. .*export PATH=\$PWD\/node_modules\/\.bin:\$PATH/);
  assert.doesNotMatch(line, /\n/);
});

// The system's own node, where the machine has an older one (Debian 12's is 18 or 20).
const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => existsSync(p) && p !== process.execPath);
const systemVersion = systemNode ? spawnSync(systemNode, ['--version'], { encoding: 'utf8' }).stdout.trim() : '';
const older = systemNode && nodeTooOld(systemVersion) !== undefined;

test('the binary run by an older node exits 1 with that line and no stack', { skip: older ? false : 'no node older than 24 on this machine' }, () => {
  const r = spawnSync(systemNode as string, [bin, 'status'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `${nodeTooOld(systemVersion)}\n`);
});
