// Envoy's client-certificate checks beyond the CA, as tables: SAN matchers by type and StringMatcher,
// SPKI and certificate-hash pins, and what a config that cannot be enforced is refused with.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { before, test } from 'node:test';
import { makeCa, type TestCa } from '../../../test/proxy/certs.ts';
import { compilePeerCertValidator, dnsNameMatch, PeerCertConfigError, type ValidationContextFields } from './peer-cert-validator.ts';

let ca: TestCa;
let der: Buffer;
let other: Buffer;

const derOf = (pem: string) => new X509Certificate(pem).raw;

before(async () => {
  ca = await makeCa();
  der = derOf(
    (
      await ca.issueWithSans([
        { type: 'url', value: 'spiffe://cluster.local/ns/shop/sa/partner' },
        { type: 'dns', value: '*.partner.example' },
        { type: 'email', value: 'ops@partner.example' },
        { type: 'ip', value: '10.1.2.3' },
        { type: 'ip', value: '2001:db8::1' },
      ])
    ).cert,
  );
  other = derOf((await ca.issue('spiffe://other.td/ns/shop/sa/partner')).cert);
});

const check = (vc: ValidationContextFields, cert = der) => compilePeerCertValidator(vc, 'vc')?.check(cert);
const san = (san_type: string, matcher: Record<string, unknown>) => ({ match_typed_subject_alt_names: [{ san_type, matcher }] });

test('SAN matchers: by type, with every StringMatcher kind', () => {
  const cases: [string, ValidationContextFields, string | undefined][] = [
    ['URI exact', san('URI', { exact: 'spiffe://cluster.local/ns/shop/sa/partner' }), undefined],
    ['URI exact, another account', san('URI', { exact: 'spiffe://cluster.local/ns/shop/sa/other' }), 'fail_verify_san'],
    ['URI prefix (a trust domain)', san('URI', { prefix: 'spiffe://cluster.local/' }), undefined],
    ['URI prefix, another trust domain', san('URI', { prefix: 'spiffe://cluster.local.evil/' }), 'fail_verify_san'],
    ['URI suffix', san('URI', { suffix: '/sa/partner' }), undefined],
    ['URI contains', san('URI', { contains: '/ns/shop/' }), undefined],
    ['URI safe_regex (a full match)', san('URI', { safe_regex: { regex: 'spiffe://[^/]+/ns/shop/sa/.*' } }), undefined],
    ['URI safe_regex, partial only', san('URI', { safe_regex: { regex: 'ns/shop' } }), 'fail_verify_san'],
    ['URI exact, ignore_case', san('URI', { exact: 'SPIFFE://cluster.local/ns/shop/sa/partner', ignore_case: true }), undefined],
    ['the URI as a DNS matcher: types must agree', san('DNS', { exact: 'spiffe://cluster.local/ns/shop/sa/partner' }), 'fail_verify_san'],
    ['DNS exact under a wildcard SAN (one label)', san('DNS', { exact: 'api.partner.example' }), undefined],
    ['DNS exact two labels under the wildcard', san('DNS', { exact: 'a.b.partner.example' }), 'fail_verify_san'],
    ['DNS exact is case-insensitive', san('DNS', { exact: 'API.Partner.Example' }), undefined],
    ['DNS suffix is a plain string match', san('DNS', { suffix: '.partner.example' }), undefined],
    ['EMAIL exact', san('EMAIL', { exact: 'ops@partner.example' }), undefined],
    ['EMAIL exact, another', san('EMAIL', { exact: 'dev@partner.example' }), 'fail_verify_san'],
    ['IP_ADDRESS v4', san('IP_ADDRESS', { exact: '10.1.2.3' }), undefined],
    ['IP_ADDRESS v6 as inet_ntop writes it', san('IP_ADDRESS', { exact: '2001:db8::1' }), undefined],
    ['IP_ADDRESS, another', san('IP_ADDRESS', { exact: '10.1.2.4' }), 'fail_verify_san'],
  ];
  for (const [name, vc, want] of cases) assert.equal(check(vc), want, name);
});

test('any SAN matcher matching passes', () => {
  const vc = { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://x/ns/a/sa/b' } }, { san_type: 'DNS', matcher: { exact: 'www.partner.example' } }] };
  assert.equal(check(vc), undefined);
  assert.equal(check(vc, other), 'fail_verify_san');
});

test('verify_certificate_hash (hex, colons allowed) and verify_certificate_spki (base64); either list may match', () => {
  const hash = createHash('sha256').update(der).digest('hex');
  const colons = hash.toUpperCase().match(/../g)?.join(':') ?? '';
  const spki = createHash('sha256').update(new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  const wrongHash = '0'.repeat(64);
  const wrongSpki = Buffer.alloc(32).toString('base64');
  assert.equal(check({ verify_certificate_hash: [hash] }), undefined);
  assert.equal(check({ verify_certificate_hash: [colons] }), undefined);
  assert.equal(check({ verify_certificate_hash: [hash] }, other), 'fail_verify_cert_hash');
  assert.equal(check({ verify_certificate_spki: [spki] }), undefined);
  assert.equal(check({ verify_certificate_spki: [spki] }, other), 'fail_verify_cert_hash');
  assert.equal(check({ verify_certificate_hash: [wrongHash], verify_certificate_spki: [spki] }), undefined, 'the SPKI matches');
  assert.equal(check({ verify_certificate_hash: [hash], verify_certificate_spki: [wrongSpki] }), undefined, 'the hash matches');
  assert.equal(check({ verify_certificate_hash: [wrongHash], verify_certificate_spki: [wrongSpki] }), 'fail_verify_cert_hash');
});

test('every configured kind must pass: the SAN first, then the pins', () => {
  const hash = createHash('sha256').update(der).digest('hex');
  assert.equal(check({ ...san('URI', { prefix: 'spiffe://cluster.local/' }), verify_certificate_hash: [hash] }), undefined);
  assert.equal(check({ ...san('URI', { prefix: 'spiffe://cluster.local/' }), verify_certificate_hash: ['0'.repeat(64)] }), 'fail_verify_cert_hash');
  assert.equal(check({ ...san('URI', { prefix: 'spiffe://other/' }), verify_certificate_hash: [hash] }), 'fail_verify_san');
});

test("untyped match_subject_alt_names match any SAN type, as Envoy's expansion into DNS, URI, EMAIL and IP_ADDRESS", () => {
  const untyped = (exact: string) => ({ match_subject_alt_names: [{ exact }] });
  const cases: [string, string | undefined][] = [
    ['10.1.2.3', undefined],
    ['2001:db8::1', undefined],
    ['ops@partner.example', undefined],
    ['spiffe://cluster.local/ns/shop/sa/partner', undefined],
    ['a.partner.example', undefined],
    ['10.1.2.4', 'fail_verify_san'],
  ];
  for (const [exact, want] of cases) assert.equal(check(untyped(exact)), want, exact);
});

test('nothing configured compiles to no validator', () => {
  assert.equal(compilePeerCertValidator({}, 'vc'), undefined);
  assert.equal(compilePeerCertValidator(undefined, 'vc'), undefined);
});

test('what cannot be enforced is refused, naming the field', () => {
  const refused: [ValidationContextFields, string][] = [
    [{ match_typed_subject_alt_names: [{ san_type: 'OTHER_NAME', matcher: { exact: 'x' } }] }, 'vc.match_typed_subject_alt_names[0].san_type'],
    [{ match_typed_subject_alt_names: [{ matcher: { exact: 'x' } }] }, 'vc.match_typed_subject_alt_names[0].san_type'],
    [{ match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: '' } }] }, 'vc.match_typed_subject_alt_names[0].matcher'],
    [{ match_typed_subject_alt_names: [{ san_type: 'URI' }] }, 'vc.match_typed_subject_alt_names[0].matcher'],
    [{ match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { safe_regex: { regex: '(' } } }] }, 'vc.match_typed_subject_alt_names[0].matcher'],
    [{ match_subject_alt_names: [{ prefix: '' }] }, 'vc.match_subject_alt_names[0].matcher'],
    [{ verify_certificate_hash: ['abc'] }, 'vc.verify_certificate_hash[0]'],
    [{ verify_certificate_spki: ['not base64!'] }, 'vc.verify_certificate_spki[0]'],
  ];
  for (const [vc, field] of refused) {
    assert.throws(() => compilePeerCertValidator(vc, 'vc'), (err: unknown) => err instanceof PeerCertConfigError && err.field === field, field);
  }
});

test("dnsNameMatch: Envoy's wildcard rule", () => {
  assert.equal(dnsNameMatch('a.example.com', '*.example.com'), true);
  assert.equal(dnsNameMatch('example.com', '*.example.com'), false);
  assert.equal(dnsNameMatch('a.b.example.com', '*.example.com'), false);
  assert.equal(dnsNameMatch('A.EXAMPLE.com', 'a.example.COM'), true);
});
