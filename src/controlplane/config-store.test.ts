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

test('a file that no longer parses keeps its last good resources: a YAML typo never deletes a DENY policy', () => {
  const good = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-admin, namespace: shop }
spec:
  action: DENY
  rules: [{ to: [{ operation: { paths: ["/admin"] } }] }]
`;
  const typos: Record<string, string> = {
    'an unterminated flow sequence': good.replace('"/admin"] } }] }]', '"/admin"] } }] }'),
    'a tab in the indentation': good.replace('  action: DENY', '\taction: DENY'),
    'a duplicate key': `${good}  action: ALLOW\n`,
  };
  for (const [name, text] of Object.entries(typos)) {
    const store = new ConfigStore();
    store.setFile('/cfg/p.yaml', loadText(good, '/cfg/p.yaml'));
    const broken = loadText(text, '/cfg/p.yaml');
    assert.ok(broken.diagnostics.some((d) => d.severity === 'error' && !d.resource), `${name}: an error that names no resource`);
    store.setFile('/cfg/p.yaml', broken);
    assert.deepEqual(store.state.resources.map((r) => `${r.kind}/${r.metadata.name}`), ['AuthorizationPolicy/deny-admin'], name);
    assert.deepEqual(store.state.held.map((h) => h.key), ['AuthorizationPolicy shop/deny-admin'], `${name}: reported held`);
  }
  // Removing the file still deletes what it held.
  const store = new ConfigStore();
  store.setFile('/cfg/p.yaml', loadText(good, '/cfg/p.yaml'));
  store.setFile('/cfg/p.yaml', loadText(typos['a duplicate key'] as string, '/cfg/p.yaml'));
  store.setFile('/cfg/p.yaml', undefined);
  assert.deepEqual(store.state.resources, []);
});

test("a held resource keeps its last good version's warnings, not those of the refused text", () => {
  const s = new ConfigStore();
  const key = 'VirtualService shop/a';
  const warning = (message: string): Diagnostic => ({ code: 'OR1031', severity: 'warning', message, resource: key });
  const good = warning('destination weights add up to 95, not 100');
  s.setFile('a.yaml', { ...loadText(vs('a', 'a'), 'a.yaml'), diagnostics: [good] });
  const d = invalid(key);
  s.setFile('a.yaml', { resources: [], diagnostics: [d, warning('destination weights add up to 25, not 100')] });
  assert.deepEqual(s.state.held, [{ key, file: 'a.yaml', diagnostics: [d] }]);
  assert.deepEqual(s.state.diagnostics, [d, good]);
  // Refused from its first version: its errors only, nothing of it is served.
  s.setFile('c.yaml', { resources: [], diagnostics: [invalid('VirtualService shop/c'), { ...good, resource: 'VirtualService shop/c' }] });
  assert.deepEqual(s.state.diagnostics, [d, invalid('VirtualService shop/c'), good]);
});

test("a warning of a resource served from one file stays when another file's copy of it is refused", () => {
  const split = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: shop}
spec:
  hosts: [a]
  http: [{route: [{destination: {host: a, subset: v1}, weight: 30}, {destination: {host: a, subset: v2}, weight: 30}]}]
`;
  const broken = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: shop}
spec: {hosts: 7}
`;
  const store = new ConfigStore();
  store.setFile('a.yaml', loadText(split, 'a.yaml'));
  const warnings = () => store.state.diagnostics.filter((d) => d.severity === 'warning').map((d) => `${d.code} ${d.span?.file}`);
  assert.deepEqual(warnings(), ['OR1031 a.yaml']);
  store.setFile('b.yaml', loadText(broken, 'b.yaml'));
  assert.deepEqual(warnings(), ['OR1031 a.yaml'], 'a.yaml is still served, and still warned of');
});
