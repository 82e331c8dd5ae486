// fieldName: the parsers' one check and lower-casing of a received field name, remembered per spelling.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fieldName } from './field-syntax.ts';

test('a token is lower-cased, and a spelling seen again gives back the same string', () => {
  const first = fieldName(['Content', 'Type'].join('-'));
  assert.equal(first, 'content-type');
  // A fresh string of the same spelling, as each parsed head makes: the remembered one comes back.
  assert.equal(Object.is(fieldName(`Content-${'Type'}`), first), true);
  assert.equal(fieldName('x-custom_1.a~b'), 'x-custom_1.a~b');
});

test('what is not a token is refused, however often it is sent and after the memory is full', () => {
  for (const bad of ['', 'bad name', 'x:y', 'na\tme', 'é', 'a\r', '(x)']) assert.equal(fieldName(bad), undefined, JSON.stringify(bad));
  for (let i = 0; i < 2000; i++) assert.equal(fieldName(`X-Name-${i}`), `x-name-${i}`);
  assert.equal(fieldName('bad name'), undefined);
  assert.equal(fieldName('X-Name-1999'), 'x-name-1999');
  assert.equal(fieldName('Late-Arrival'), 'late-arrival');
});

test('a remembered name does not keep the head it was cut from alive', async () => {
  // A module instance of its own: the tests above have filled this one's memory of names.
  const { fieldName: remember } = (await import(new URL('./field-syntax.ts?retention', import.meta.url).href)) as typeof import('./field-syntax.ts');
  // gc() for this test only.
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 200; i++) {
    // As the parser cuts a name from a head's text: a slice of a 50 KB string.
    const head = `X-Retained-Name-${String(i).padStart(5, '0')}: 1\r\nx-pad: ${String(i).repeat(1).padEnd(50_000, 'a')}`;
    remember(head.slice(0, head.indexOf(':')));
  }
  gc();
  const grownMb = (process.memoryUsage().heapUsed - before) / 2 ** 20;
  // Pinned heads would be 200 × 50 KB ≈ 10 MB; the names themselves are a few KB.
  assert.ok(grownMb < 2, `heap grew ${grownMb.toFixed(1)} MB`);
});
