import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { StreamSink } from './sink.ts';

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
