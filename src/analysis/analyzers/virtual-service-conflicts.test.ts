// IST0109 as Istio's ConflictingMeshGatewayHostsAnalyzer: hosts are scoped by exportTo, and the
// message names the scoped host.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { runAnalyzers } from '../run.ts';

const vs = (namespace: string, name: string, host: string, exportTo?: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  hosts: [${host}]${exportTo ? `\n  exportTo: ${exportTo}` : ''}
  http: [{directResponse: {status: 200}}]
---
`;

const conflicts = (yaml: string) =>
  runAnalyzers(loadText(yaml, 'vs.yaml').resources)
    .filter((d) => d.code === 'IST0109')
    .map((d) => `${d.resource}: ${d.message}`);

test('IST0109: two VirtualServices for one host, both visible everywhere', () => {
  assert.deepEqual(conflicts(vs('shop', 'a', 'reviews') + vs('shop', 'b', 'reviews')), [
    'VirtualService shop/a: The VirtualServices shop/a,shop/b associated with mesh gateway define the same host */reviews.shop.svc.cluster.local which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.',
    'VirtualService shop/b: The VirtualServices shop/a,shop/b associated with mesh gateway define the same host */reviews.shop.svc.cluster.local which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.',
  ]);
});

test('IST0109: no conflict between VirtualServices each exported only to its own namespace', () => {
  const host = 'reviews.shop.svc.cluster.local';
  assert.deepEqual(conflicts(vs('a', 'r', host, '["."]') + vs('b', 'r', host, '["."]')), []);
  // One exported everywhere collides with a local one wherever the latter is visible, wildcards included.
  assert.deepEqual(
    conflicts(vs('a', 'r', host, '["."]') + vs('b', 'r', '"*.shop.svc.cluster.local"')).map((m) => m.split(':')[0]),
    ['VirtualService a/r', 'VirtualService b/r'],
  );
  assert.match(conflicts(vs('a', 'r', host, '["."]') + vs('b', 'r', host))[0] ?? '', /define the same host a\/reviews\.shop\.svc\.cluster\.local /);
});
