// The incremental loader gives exactly what loadText gives (resources, origins, lookups, diagnostics)
// for every YAML file in the repository and across edits that change, move, add and drop documents.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { type LoadResult, loadText } from '../config/load.ts';
import { IncrementalLoader, splitDocuments } from './incremental-load.ts';

const root = path.join(import.meta.dirname, '../..');

function yamlFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yamlFiles(p, out);
    else if (/\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Everything observable: JSON of resources and diagnostics, and the spans of a few field paths. */
function observe(r: LoadResult): string {
  const lookups = r.resources.map((res) => [['spec'], ['metadata', 'name'], ['spec', 'http', 0]].map((p) => res.origin?.lookup(p)));
  return JSON.stringify({ resources: r.resources, diagnostics: r.diagnostics, lookups });
}

test('every YAML file of the repository loads as loadText loads it', () => {
  const files = [...yamlFiles(path.join(root, 'test')), ...yamlFiles(path.join(root, 'examples'))];
  assert.ok(files.length > 10, `only ${files.length} files`);
  let split = 0;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (splitDocuments(text)) split++;
    const loader = new IncrementalLoader();
    assert.equal(observe(loader.load(text, file)), observe(loadText(text, file)), file);
    // Again from the cache.
    assert.equal(observe(loader.load(text, file)), observe(loadText(text, file)), `${file} (cached)`);
  }
  assert.ok(split > files.length / 2, `${split} of ${files.length} files split into documents`);
});

const doc = (name: string, weight: number) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: shop }
spec:
  hosts: [${name}]
  http:
  - route: [{ destination: { host: ${name} }, weight: ${weight} }]
`;

test('edits that change, move, add and drop documents give loadText results', () => {
  const loader = new IncrementalLoader();
  const versions = [
    [doc('a', 100), doc('b', 100), doc('c', 100)].join('---\n'),
    [doc('a', 100), doc('b', 90), doc('c', 100)].join('---\n'),
    [`# header\n${doc('a', 100)}`, `${doc('x', 7)}extra: 1\n`, doc('b', 90), doc('c', 100)].join('---\n'),
    ['', doc('c', 100), doc('b', 90), '', doc('b', 90)].join('---\n'),
    [doc('a', 1), 'kind: [unclosed\n', doc('c', 100)].join('---\n'),
    [doc('a', 1), doc('c', 100)].join('--- \n'),
  ];
  for (const [i, text] of versions.entries()) assert.equal(observe(loader.load(text, 'mesh.yaml')), observe(loadText(text, 'mesh.yaml')), `version ${i}`);
});
