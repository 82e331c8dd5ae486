// Kubernetes LabelSelectors: labels and expressions, all of which must hold.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchesLabelSelector } from './labels.ts';

const prod = { env: 'prod', tier: 'web' };

test('matchLabels and each expression operator, ANDed; an empty selector matches everything', () => {
  assert.equal(matchesLabelSelector({}, prod), true);
  assert.equal(matchesLabelSelector({ matchLabels: { env: 'prod' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }] }, prod), true);
  assert.equal(matchesLabelSelector({ matchLabels: { env: 'prod' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] }, prod), false);
  assert.equal(matchesLabelSelector({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, prod), true, 'NotIn holds for a missing label');
  assert.equal(matchesLabelSelector({ matchExpressions: [{ key: 'env', operator: 'Exists' }] }, prod), true);
  assert.equal(matchesLabelSelector({ matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] }, prod), false);
});

test("a key a plain object inherits (constructor, toString) is no label", () => {
  assert.equal(matchesLabelSelector({ matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, prod), false);
  assert.equal(matchesLabelSelector({ matchExpressions: [{ key: 'toString', operator: 'DoesNotExist' }] }, prod), true);
});
