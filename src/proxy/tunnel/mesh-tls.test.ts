// A peer's SPIFFE ID from its certificate: exactly one URI SAN, a well-formed SPIFFE ID; no SAN value
// can pass for a second entry (Node escapes the commas inside values).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { makeCa } from '../../../test/proxy/certs.ts';
import { x509 } from '../../ca/x509.ts';
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

test('a CA certificate is refused however its extensions are laid out: read by structure, not by searching bytes', async () => {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const make = async (decoy: boolean, ca: boolean) => {
    const extensions: x509.Extension[] = [];
    // An extension of no meaning whose value holds basicConstraints' OID bytes, ahead of the real one.
    if (decoy) extensions.push(new x509.Extension('1.3.6.1.4.1.99999.1', false, new Uint8Array([0x04, 0x06, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x00])));
    extensions.push(new x509.BasicConstraintsExtension(ca, undefined, true));
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true));
    extensions.push(new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://cluster.local/ns/a/sa/b' }]));
    const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=x', notBefore: new Date(Date.now() - 1000), notAfter: new Date(Date.now() + 86_400_000), keys, signingAlgorithm: alg, extensions });
    return Buffer.from(cert.rawData);
  };
  assert.equal(spiffeIdOf(await make(false, true)), undefined, 'cA: TRUE without keyCertSign');
  assert.equal(spiffeIdOf(await make(true, true)), undefined, 'with a decoy before it');
  assert.equal(spiffeIdOf(await make(true, false)), 'spiffe://cluster.local/ns/a/sa/b', 'a leaf with the decoy is still a leaf');
});
