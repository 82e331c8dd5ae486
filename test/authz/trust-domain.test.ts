// Trust domains in authorization, as Istio applies them: `cluster.local` in a principal stands for the
// mesh's trust domain, and meshConfig.trustDomainAliases name the same mesh, so a principal in any of
// them matches a peer in any of them. Translated by the control plane's translator and decided by the
// proxy's RBAC filter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Rule } from '../../src/config/types/security.ts';
import type { AuthorizationTarget } from '../../src/translate/authorization.ts';
import { principalsWithAliases } from '../../src/translate/trust-domain-bundle.ts';
import { decideHttp, policy, TARGET } from './simulate.ts';

const peer = (id: string) => ({ connection: { tls: true, peerPrincipal: id } });
const allowOnly = (rule: Rule, target: AuthorizationTarget) => (id: string) => decideHttp([policy('allow', 'foo', { action: 'ALLOW', rules: [rule] })], peer(id), target).status;

test('a principal written with cluster.local matches the peer in the mesh trust domain, and only there', () => {
  const target = { ...TARGET, trustDomain: 'example.org' };
  const status = allowOnly({ from: [{ source: { principals: ['cluster.local/ns/foo/sa/sleep'] } }] }, target);
  assert.equal(status('spiffe://example.org/ns/foo/sa/sleep'), 200);
  assert.equal(status('spiffe://cluster.local/ns/foo/sa/sleep'), 403, 'cluster.local is a pointer, not a second domain');
  assert.equal(status('spiffe://example.org/ns/foo/sa/other'), 403);
});

test('with aliases, a principal in the mesh domain or an alias matches a peer in any of them', () => {
  const target = { ...TARGET, trustDomain: 'new-td', trustDomainAliases: ['old-td'] };
  for (const written of ['old-td/ns/foo/sa/sleep', 'new-td/ns/foo/sa/sleep', 'cluster.local/ns/foo/sa/sleep']) {
    const status = allowOnly({ from: [{ source: { principals: [written] } }] }, target);
    assert.equal(status('spiffe://new-td/ns/foo/sa/sleep'), 200, written);
    assert.equal(status('spiffe://old-td/ns/foo/sa/sleep'), 200, written);
    assert.equal(status('spiffe://other-td/ns/foo/sa/sleep'), 403, written);
  }
  // A domain outside the bundle is matched as written.
  const foreign = allowOnly({ from: [{ source: { principals: ['other-td/ns/foo/sa/sleep'] } }] }, target);
  assert.equal(foreign('spiffe://other-td/ns/foo/sa/sleep'), 200);
  assert.equal(foreign('spiffe://new-td/ns/foo/sa/sleep'), 403);
});

test('notPrincipals and source.principal conditions expand the same way', () => {
  const target = { ...TARGET, trustDomain: 'new-td', trustDomainAliases: ['old-td'] };
  const deny = (rule: Rule) => (id: string) => decideHttp([policy('deny', 'foo', { action: 'DENY', rules: [rule] })], peer(id), target).status;
  const notPrincipals = deny({ from: [{ source: { notPrincipals: ['old-td/ns/foo/sa/sleep'] } }] });
  assert.equal(notPrincipals('spiffe://new-td/ns/foo/sa/sleep'), 200, 'the same workload in the new domain is not denied');
  assert.equal(notPrincipals('spiffe://new-td/ns/foo/sa/other'), 403);
  const when = deny({ when: [{ key: 'source.principal', values: ['cluster.local/ns/foo/sa/sleep'] }] });
  assert.equal(when('spiffe://old-td/ns/foo/sa/sleep'), 403);
  assert.equal(when('spiffe://new-td/ns/foo/sa/other'), 200);
});

test('serviceAccounts match the account in any trust domain, as Istio matches them', () => {
  const status = allowOnly({ from: [{ source: { serviceAccounts: ['foo/sleep'] } }] }, { ...TARGET, trustDomain: 'example.org' });
  assert.equal(status('spiffe://example.org/ns/foo/sa/sleep'), 200);
  assert.equal(status('spiffe://cluster.local/ns/foo/sa/sleep'), 200);
  assert.equal(status('spiffe://example.org/ns/foo/sa/sleep-2'), 403);
  assert.equal(status('spiffe://example.org/ns/foox/sa/sleep'), 403);
  const dotted = allowOnly({ from: [{ source: { serviceAccounts: ['foo/a.b'] } }] }, TARGET);
  assert.equal(dotted('spiffe://cluster.local/ns/foo/sa/axb'), 403, 'a dot in the account is not a wildcard');
});

test('the expansion keeps order, drops duplicates and leaves wildcard domains as written', () => {
  assert.deepEqual(principalsWithAliases(['cluster.local/ns/foo/sa/bar'], ['cluster.local']), ['cluster.local/ns/foo/sa/bar']);
  assert.deepEqual(principalsWithAliases(['*', '*/ns/foo/sa/bar', 'sa/bar'], ['td1', 'td2']), ['*', '*/ns/foo/sa/bar', 'sa/bar']);
  assert.deepEqual(principalsWithAliases(['cluster.local/ns/a/sa/b', 'td1/ns/c/sa/d'], ['td2', 'td1', 'cluster.local']), [
    'td2/ns/a/sa/b',
    'td1/ns/a/sa/b',
    'cluster.local/ns/a/sa/b',
    'td2/ns/c/sa/d',
    'td1/ns/c/sa/d',
    'cluster.local/ns/c/sa/d',
  ]);
  // `*-td1` covers the alias foo-td1, so it stays once as written there.
  assert.deepEqual(principalsWithAliases(['*-td1/ns/foo/sa/bar'], ['td2', 'foo-td1', 'cluster.local']), ['td2/ns/foo/sa/bar', '*-td1/ns/foo/sa/bar', 'cluster.local/ns/foo/sa/bar']);
  assert.deepEqual(principalsWithAliases(['some-td/ns/foo/sa/bar'], ['td1', 'td2']), ['some-td/ns/foo/sa/bar']);
});
