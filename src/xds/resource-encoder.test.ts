// The encoder's sharing: a resource object is encoded once, a source map's set is built once per
// type and subscribed names, unchanged content keeps its bytes across generations, and the set hash
// follows names and contents only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
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
