// What a ReferenceGrant grants (references.ts): an absent `to.name` is every object of the kind, an
// empty one (which the API server refuses) is none; and the tie-break between routes of the same age.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AnyResource } from '../../config/resource.ts';
import { byAge, secretGranted } from './references.ts';

const grant = (to: Record<string, string>) =>
  ({
    kind: 'ReferenceGrant',
    apiVersion: 'gateway.networking.k8s.io/v1beta1',
    metadata: { name: 'g', namespace: 'certs', labels: {}, annotations: {} },
    spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'infra' }], to: [{ group: '', kind: 'Secret', ...to }] },
  }) as unknown as AnyResource;

test('a grant without to.name lets every Secret of its namespace be used; one naming a Secret, that Secret only', () => {
  assert.equal(secretGranted([grant({})], 'infra', 'certs', 'shop-cert'), true);
  assert.equal(secretGranted([grant({ name: 'shop-cert' })], 'infra', 'certs', 'shop-cert'), true);
  assert.equal(secretGranted([grant({ name: 'shop-cert' })], 'infra', 'certs', 'bank-key'), false);
  assert.equal(secretGranted([grant({})], 'other', 'certs', 'shop-cert'), false);
});

test('a grant with to.name "" (refused by the API server) grants nothing, not every Secret', () => {
  assert.equal(secretGranted([grant({ name: '' })], 'infra', 'certs', 'bank-key'), false);
});

test('routes of the same age are ordered by namespace, then name (Istio\'s sortRoutesByCreationTime), not by "namespace/name"', () => {
  const at = (namespace: string, name: string) => ({ metadata: { namespace, name, labels: {}, annotations: {}, creationTimestamp: '2026-01-01T00:00:00Z' } });
  const sorted = [at('team-b', 'x'), at('team', 'y'), at('team', 'x')].sort(byAge).map((r) => `${r.metadata.namespace}/${r.metadata.name}`);
  assert.deepEqual(sorted, ['team/x', 'team/y', 'team-b/x']);
});
