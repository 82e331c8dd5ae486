import assert from 'node:assert/strict';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { openAccessLog, StreamSink } from './sink.ts';

function collector(): { out: Writable; writes: string[] } {
  const writes: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writes.push(chunk.toString());
      cb();
    },
  });
  return { out, writes };
}

test('lines of one turn of the event loop go out in one write, in order', async () => {
  const { out, writes } = collector();
  const sink = new StreamSink(out, false);
  sink.write('a\n');
  sink.write('b\n');
  sink.write('c\n');
  assert.deepEqual(writes, [], 'nothing is written while requests are being served');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(writes, ['a\nb\nc\n']);
  sink.write('d\n');
  await sink.close();
  assert.deepEqual(writes, ['a\nb\nc\n', 'd\n'], 'close flushes what is left');
});

test('past the buffer bound lines are dropped and counted, never queued without limit', () => {
  const { out } = collector();
  const sink = new StreamSink(out, false, 10);
  sink.write('0123456789\n');
  sink.write('more\n');
  assert.equal(sink.dropped, 1);
});

test("with the proxy's own output, /dev/stdout and /dev/stderr go to it, left open for its owner; a file path is still that file", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'outrigger-sink-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const logFile = path.join(dir, 'podinfo.podinfo-stable-0.proxy.log');
  const other = path.join(dir, 'access.log');
  const output = createWriteStream(logFile, { flags: 'a', mode: 0o600 });
  const sinks = ['/dev/stdout', '/dev/stderr', other].map((p) => openAccessLog(p, { output }));
  for (const [i, s] of sinks.entries()) s.write(`line ${i}\n`);
  await Promise.all(sinks.map((s) => s.close()));
  assert.equal(output.writableEnded, false, 'the owner closes its own log');
  await new Promise((resolve) => output.end(resolve));
  assert.deepEqual(readFileSync(logFile, 'utf8').split('\n').sort(), ['', 'line 0', 'line 1']);
  assert.equal(readFileSync(other, 'utf8'), 'line 2\n');
});
