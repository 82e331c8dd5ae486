// A command given input it never reads: the pipe's EPIPE is not an error of its own (the exit status
// says how the command went), and it must not end the process that ran it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { run } from './system-command.ts';

test('a command that exits without reading its input: its result, not an EPIPE that ends the process', async () => {
  const thrown: unknown[] = [];
  const onThrow = (err: unknown) => thrown.push(err);
  process.on('uncaughtException', onThrow);
  try {
    // More than a pipe holds, so the write is still going when the command has gone.
    const input = 'x'.repeat(4 * 1024 * 1024);
    for (let i = 0; i < 5; i++) assert.equal(await run('/bin/true', [], { input }), '');
    await assert.rejects(run('/bin/false', [], { input }), /failed/);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(thrown, []);
  } finally {
    process.off('uncaughtException', onThrow);
  }
});
