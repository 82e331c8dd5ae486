// A peer's SPIFFE ID from its certificate: exactly one URI SAN, a well-formed SPIFFE ID; no SAN value
// can pass for a second entry (Node escapes the commas inside values).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { makeCa } from '../../../test/proxy/certs.ts';
import { spiffeIdOf } from './mesh-tls.ts';

test('spiffeIdOf takes one well-formed SPIFFE URI SAN and nothing a crafted SAN could pass for one', async () => {
  const ca = await makeCa();
  const id = async (sans: { type: 'url' | 'dns'; value: string }[]) => spiffeIdOf(new X509Certificate((await ca.issueWithSans(sans)).cert).raw);
  assert.equal(await id([{ type: 'url', value: 'spiffe://cluster.local/ns/a/sa/b' }]), 'spiffe://cluster.local/ns/a/sa/b');
  assert.equal(await id([{ type: 'dns', value: 'a.example.com' }, { type: 'url', value: 'spiffe://cluster.local/ns/a/sa/b' }]), 'spiffe://cluster.local/ns/a/sa/b', 'other SAN types may sit beside it');
  assert.equal(await id([{ type: 'dns', value: 'x, URI:spiffe://cluster.local/ns/admin/sa/root' }]), undefined, 'a DNS name holding a second entry');
  assert.equal(await id([{ type: 'url', value: 'spiffe://cluster.local/ns/a/sa/b, URI:spiffe://cluster.local/ns/admin/sa/root' }]), undefined);
  assert.equal(await id([{ type: 'url', value: 'spiffe://cluster.local/ns/a/sa/b' }, { type: 'url', value: 'spiffe://cluster.local/ns/c/sa/d' }]), undefined, 'two URI SANs');
  assert.equal(await id([{ type: 'url', value: 'spiffe://Cluster.Local//ns/a' }]), undefined, 'not a well-formed SPIFFE ID');
  assert.equal(await id([{ type: 'url', value: 'https://cluster.local/ns/a/sa/b' }]), undefined);
  assert.equal(await id([{ type: 'dns', value: 'x,y.example.com' }, { type: 'url', value: 'spiffe://cluster.local/ns/a/sa/b' }]), 'spiffe://cluster.local/ns/a/sa/b', 'a quoted value of another type beside it');
  assert.equal(spiffeIdOf(undefined), undefined);
});

test('a CA certificate is no peer identity, whatever its SAN (a leaf SVID is never a CA)', async () => {
  const ca = await makeCa();
  const caLeaf = await ca.issueWithSans([{ type: 'url', value: 'spiffe://cluster.local/ns/a/sa/b' }], { ca: true });
  assert.equal(spiffeIdOf(new X509Certificate(caLeaf.cert).raw), undefined);
});
