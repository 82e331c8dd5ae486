import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Diagnostic } from '../config/diagnostic.ts';
import { loadText } from '../config/load.ts';
import { ConfigStore } from './config-store.ts';

const vs = (name: string, host: string) => `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ${name}, namespace: shop}\nspec: {hosts: [${host}]}\n`;
const names = (s: ConfigStore) => s.state.resources.map((r) => `${r.metadata.namespace}/${r.metadata.name}`).sort();
const invalid = (key: string): Diagnostic => ({ code: 'OR1001', severity: 'error', message: 'spec.hosts: expected array', resource: key });

test('files add, change and remove resources; a no-op reload is not a change', () => {
  const s = new ConfigStore();
  assert.equal(s.setFile('a.yaml', loadText(vs('a', 'a'), 'a.yaml')), true);
  assert.equal(s.setFile('b.yaml', loadText(vs('b', 'b'), 'b.yaml')), true);
  assert.deepEqual(names(s), ['shop/a', 'shop/b']);
  assert.equal(s.setFile('a.yaml', loadText(vs('a', 'a'), 'a.yaml')), false);
  assert.equal(s.setFile('a.yaml', undefined), true);
  assert.deepEqual(names(s), ['shop/b']);
});

test('a resource that becomes invalid keeps its last good version and is reported held', () => {
  const s = new ConfigStore();
  s.setFile('a.yaml', loadText(vs('a', 'good.shop'), 'a.yaml'));
  const d = invalid('VirtualService shop/a');
  assert.equal(s.setFile('a.yaml', { resources: [], diagnostics: [d] }), false);
  assert.deepEqual(names(s), ['shop/a']);
  assert.deepEqual(s.state.held, [{ key: 'VirtualService shop/a', file: 'a.yaml', diagnostics: [d] }]);
  assert.deepEqual(s.state.diagnostics, [d]);
  // fixed again: no longer held
  s.setFile('a.yaml', loadText(vs('a', 'fixed.shop'), 'a.yaml'));
  assert.deepEqual(s.state.held, []);
  // invalid from the start: never had a good version, so it is simply absent
  s.setFile('c.yaml', { resources: [], diagnostics: [invalid('VirtualService shop/c')] });
  assert.deepEqual(names(s), ['shop/a']);
});

test('a resource moved to another file (rename) stays', () => {
  const s = new ConfigStore();
  s.setFile('old.yaml', loadText(vs('a', 'a'), 'old.yaml'));
  s.setFile('new.yaml', loadText(vs('a', 'a'), 'new.yaml'));
  assert.equal(s.setFile('old.yaml', undefined), false);
  assert.deepEqual(names(s), ['shop/a']);
});
