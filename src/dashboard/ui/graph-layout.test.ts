// The graph's layout, with no browser: where each node goes, and the size of the drawing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
// @ts-expect-error: the dashboard's browser modules are plain JavaScript, without types.
import { layout } from './graph.js';

interface Laid {
  pos: Map<string, { x: number; y: number; r: number }>;
  width: number;
  height: number;
}

const node = (id: string) => ({ id });
const edge = (source: string, target: string) => ({ id: `${source}>${target}`, source, target });

test('a workload that calls a service routing back to it is laid out in whole columns, every size a number', () => {
  // The seed's own check: podinfo-stable curls the podinfo-stable service, which routes to itself.
  const nodes = ['unknown', 'gw', 'svc', 'wl'].map(node);
  const g = layout(nodes, [edge('gw', 'svc'), edge('svc', 'wl'), edge('wl', 'svc')]) as Laid;
  assert.ok(Number.isFinite(g.width) && Number.isFinite(g.height), `width ${g.width}, height ${g.height}`);
  for (const [id, p] of g.pos) assert.ok(Number.isFinite(p.x) && Number.isFinite(p.y), `${id} at ${p.x},${p.y}`);
  // No empty column between callers and callees: the columns used are 0, 1, 2... with none skipped.
  const used = [...new Set([...g.pos.values()].map((p) => p.r))].sort((a, b) => a - b);
  assert.deepEqual(used, used.map((_, i) => i));
  assert.equal(g.width, 2 * 90 + (used.length - 1) * 250);
});

test('callers are left of what they call', () => {
  const g = layout(['a', 'b', 'c'].map(node), [edge('a', 'b'), edge('b', 'c')]) as Laid;
  const x = (id: string) => g.pos.get(id)?.x as number;
  assert.ok(x('a') < x('b') && x('b') < x('c'));
  assert.equal(g.height, 2 * 56);
});
