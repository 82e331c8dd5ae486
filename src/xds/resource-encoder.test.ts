// The encoder's sharing: a resource object is encoded once, a source map's set is built once per
// type and subscribed names, unchanged content keeps its bytes across generations, and the set hash
// follows names and contents only; what a client's subscribed names make it keep is bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { TypedAny } from './any.ts';
import { packAny } from './any.ts';
import { ResourceEncoder } from './resource-encoder.ts';
import { TypeUrl } from './type-urls.ts';

const cla = (name: string, port: number): TypedAny => ({
  '@type': TypeUrl.ClusterLoadAssignment,
  cluster_name: name,
  endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: port } } } }] }],
});
const mapOf = (...rs: TypedAny[]) => new Map(rs.map((r) => [String(r['cluster_name']), r]));

test('proxies handed one source map share one set per subscribed names; the names pick and order', () => {
  const enc = new ResourceEncoder();
  const source = mapOf(cla('b', 2), cla('a', 1), cla('c', 3));
  const all = enc.encodeSelected(TypeUrl.ClusterLoadAssignment, source, [], 'g1');
  assert.equal(enc.encodeSelected(TypeUrl.ClusterLoadAssignment, source, [], 'g1'), all, 'the second proxy gets the very same set');
  assert.deepEqual(all.objects.map((o) => o['cluster_name']), ['a', 'b', 'c']);
  assert.deepEqual(all.resources[0]?.value, packAny(TypeUrl.ClusterLoadAssignment, cla('a', 1)).value);
  const some = enc.encodeSelected(TypeUrl.ClusterLoadAssignment, source, ['c', 'a', 'zz'], 'g1');
  assert.deepEqual(some.objects.map((o) => o['cluster_name']), ['a', 'c'], 'unknown names are left out');
  assert.notEqual(some.hash, all.hash);
  assert.equal(enc.encodeSelected(TypeUrl.ClusterLoadAssignment, undefined, [], 'g1').resources.length, 0);
});

test('the set hash follows content, not object identity or generation', () => {
  const enc = new ResourceEncoder();
  const first = enc.encodeSelected(TypeUrl.ClusterLoadAssignment, mapOf(cla('a', 1)), [], 'g1');
  const same = enc.encodeSelected(TypeUrl.ClusterLoadAssignment, mapOf(cla('a', 1)), [], 'g2');
  const changed = enc.encodeSelected(TypeUrl.ClusterLoadAssignment, mapOf(cla('a', 9)), [], 'g2');
  assert.equal(same.hash, first.hash);
  assert.equal(same.resources[0], first.resources[0], 'unchanged content keeps its encoded bytes across generations');
  assert.notEqual(changed.hash, first.hash);
});

test('the sets kept per source map and type are bounded: a client naming ever new lists does not grow them', () => {
  const enc = new ResourceEncoder();
  const source = mapOf(cla('a', 1));
  const first = enc.encodeSelected(TypeUrl.ClusterLoadAssignment, source, ['a'], 'g1');
  assert.equal(enc.encodeSelected(TypeUrl.ClusterLoadAssignment, source, ['a'], 'g1'), first, 'kept while few lists are asked for');
  // The names are the client's: each distinct list (a megabyte each, if it likes) was kept for as long
  // as the source map lived, a whole config generation.
  for (let i = 0; i < 5_000; i++) enc.encodeSelected(TypeUrl.ClusterLoadAssignment, source, ['a', `junk-${i}`], 'g1');
  const again = enc.encodeSelected(TypeUrl.ClusterLoadAssignment, source, ['a'], 'g1');
  assert.notEqual(again, first, 'the early sets were let go');
  assert.equal(again.hash, first.hash, 'and are rebuilt the same when asked for again');
});

// A full GC, for the memory a test holds: the flag can be set at run time, `gc` is then had from a new context.
v8.setFlagsFromString('--expose-gc');
const collect = vm.runInNewContext('gc') as () => void;
const retained = (): number => {
  collect();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};

test('a subscribed-name list is kept by a digest of its names, not its names: huge lists cost no memory once dropped', () => {
  const enc = new ResourceEncoder();
  const source = mapOf(cla('a', 1));
  const first = enc.encodeSelected(TypeUrl.ClusterLoadAssignment, source, ['a'], 'g1');
  const before = retained();
  // One token-holding proxy sending ever new lists of a megabyte each, as it may (up to the message limit):
  // keyed by the joined names, each was held until the next snapshot (1024 per source map and type).
  for (let i = 0; i < 64; i++) enc.encodeSelected(TypeUrl.ClusterLoadAssignment, source, [`${i}~`.padEnd(1 << 20, 'z')], 'g1');
  const grew = retained() - before;
  assert.ok(grew < 8 << 20, `64 lists of 1 MB held ${(grew / (1 << 20)).toFixed(1)} MB`);
  assert.equal(enc.encodeSelected(TypeUrl.ClusterLoadAssignment, source, ['a'], 'g1'), first, 'the lists still share their sets');
});

test('the resources the sets of one source map and type hold are bounded, whatever the number of lists', () => {
  const enc = new ResourceEncoder();
  const source = new Map<string, TypedAny>();
  for (let i = 0; i < 4000; i++) source.set(`c${i}`, cla(`c${i}`, i));
  const names = [...source.keys()].sort();
  const first = enc.encodeSelected(TypeUrl.ClusterLoadAssignment, source, names, 'g1');
  assert.equal(enc.encodeSelected(TypeUrl.ClusterLoadAssignment, source, names, 'g1'), first);
  // 100 lists (well under the 1024 lists kept) that each name every resource and one more: 400,000
  // resources in all, over the 262,144 kept.
  for (let i = 0; i < 100; i++) enc.encodeSelected(TypeUrl.ClusterLoadAssignment, source, [...names, `junk-${i}`], 'g1');
  const again = enc.encodeSelected(TypeUrl.ClusterLoadAssignment, source, names, 'g1');
  assert.notEqual(again, first, 'the early sets were let go');
  assert.equal(again.hash, first.hash, 'and are rebuilt the same');
});
