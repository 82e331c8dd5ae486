import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
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

test('a token with an expiry holds until that second, and its expiry is readable without the key', () => {
  const tokens = new BootstrapTokens();
  const token = tokens.issue(id, 1_900_000_000_999);
  assert.equal(BootstrapTokens.expiresAt(token), 1_900_000_000_000);
  assert.deepEqual(tokens.verify(token, 1_899_999_999_999), id);
  assert.equal(tokens.verify(token, 1_900_000_000_000), undefined);
  assert.equal(BootstrapTokens.expiresAt(tokens.issue(id)), undefined);
  assert.equal(BootstrapTokens.expiresAt('garbage'), undefined);
  assert.throws(() => tokens.issue(id, Number.NaN), { code: 'TOKEN_FIELD' });
});

test('a body whose expiry is not a whole positive second is refused even with a good MAC', () => {
  const key = Buffer.alloc(32, 3);
  const tokens = new BootstrapTokens(key);
  const mac = (body: string) => createHmac('sha256', key).update(`or1.${body}`).digest('base64url');
  for (const fields of [
    ['podinfo', 'podinfo', 'podinfo-stable', '1900000000'],
    ['podinfo', 'podinfo', 'podinfo-stable', 1.5],
    ['podinfo', 'podinfo', 'podinfo-stable', -1],
    ['podinfo', 'podinfo', 'podinfo-stable', 1, 2],
  ]) {
    const body = Buffer.from(JSON.stringify(fields)).toString('base64url');
    assert.equal(tokens.verify(`or1.${body}.${mac(body)}`, 0), undefined, JSON.stringify(fields));
  }
  const good = Buffer.from(JSON.stringify(['podinfo', 'podinfo', 'podinfo-stable', 1_900_000_000])).toString('base64url');
  assert.deepEqual(tokens.verify(`or1.${good}.${mac(good)}`, 0), id);
});
