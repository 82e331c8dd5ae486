// A route's dynamic_metadata matcher against Envoy's MetadataMatcher: PresentMatcher is
// `matcher_ && kind_case() != KIND_NOT_SET`, and the path walks a Struct's own fields only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetadataPredicate, structValueAt } from './metadata-matcher.ts';

const F = 'envoy.filters.http.jwt_authn';
const md = (payload: Record<string, unknown>) => new Map([[F, { payload }]]);
const present = (key: string, want: boolean, invert = false) =>
  new MetadataPredicate({ filter: F, path: [{ key: 'payload' }, { key }], value: { present_match: want }, invert }, 'm');

test('present_match: true matches any value, a JSON null included; false matches nothing', () => {
  assert.equal(present('group', true).match(md({ group: 'dev' })), true);
  assert.equal(present('group', true).match(md({ group: null })), true);
  assert.equal(present('group', true).match(md({})), false);
  assert.equal(present('group', false).match(md({})), false);
  assert.equal(present('group', false).match(md({ group: 'dev' })), false);
  assert.equal(present('group', false, true).match(md({})), true);
});

test('an inherited property is no claim', () => {
  for (const key of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) assert.equal(present(key, true).match(md({})), false, key);
  const m = new MetadataPredicate({ filter: F, path: [{ key: 'payload' }, { key: 'group' }], value: { string_match: { exact: 'admin' } }, invert: true }, 'm');
  assert.equal(m.match(md(Object.create({ group: 'admin' }) as Record<string, unknown>)), true);
});

test('structValueAt: own fields of objects only, never a list index', () => {
  const root = { a: { b: 'x', n: null }, list: ['first'] };
  assert.equal(structValueAt(root, ['a', 'b']), 'x');
  assert.equal(structValueAt(root, ['a', 'n']), null);
  assert.equal(structValueAt(root, ['a', 'missing']), undefined);
  assert.equal(structValueAt(root, ['list', '0']), undefined);
  assert.equal(structValueAt(root, ['a', 'b', 'length']), undefined);
  assert.equal(structValueAt(root, ['a', 'constructor']), undefined);
});
