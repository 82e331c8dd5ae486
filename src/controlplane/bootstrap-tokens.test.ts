import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BootstrapTokens } from './bootstrap-tokens.ts';

const id = { namespace: 'podinfo', serviceAccount: 'podinfo', workload: 'podinfo-stable' };

test('a token verifies to the identity it was issued for', () => {
  const tokens = new BootstrapTokens();
  assert.deepEqual(tokens.verify(tokens.issue(id)), id);
});

test('tampered, foreign and malformed tokens are refused', () => {
  const tokens = new BootstrapTokens();
  const other = new BootstrapTokens();
  const token = tokens.issue(id);
  const [p, , mac] = token.split('.');
  const forged = `${p}.${Buffer.from(JSON.stringify(['podinfo', 'admin', 'x'])).toString('base64url')}.${mac}`;
  for (const bad of [forged, other.issue(id), '', 'or1..', 'garbage', `${token}x`]) assert.equal(tokens.verify(bad), undefined, bad);
});

test('the same key verifies across instances; the bearer header is parsed', () => {
  const key = Buffer.alloc(32, 7);
  assert.deepEqual(new BootstrapTokens(key).verify(new BootstrapTokens(key).issue(id)), id);
  assert.equal(BootstrapTokens.fromAuthorization('Bearer abc.def'), 'abc.def');
  assert.equal(BootstrapTokens.fromAuthorization('Basic abc'), undefined);
  assert.equal(BootstrapTokens.fromAuthorization(undefined), undefined);
});

test('an identity with an empty field cannot get a token', () => {
  assert.throws(() => new BootstrapTokens().issue({ ...id, workload: '' }), { code: 'TOKEN_FIELD' });
});
