// When the TLS port's certificate is renewed, by the clock it is given: with half its lifetime left, and
// a minute after a renewal the CA failed, the current certificate served meanwhile.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CaError } from '../ca/ca-error.ts';
import { CertificateAuthority } from '../ca/certificate-authority.ts';
import { ManualClock } from './clock.ts';
import { ServingCertificate } from './serving-certificate.ts';

test('renewed with half its lifetime left; a renewal the CA fails is retried a minute later', async (t) => {
  const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
  const ca = await CertificateAuthority.ephemeral({ now: () => clock.now() });
  const logs: string[] = [];
  const sc = await ServingCertificate.issue({ ca, names: ['istiod.istio-system.svc'], clock, log: (l, m) => logs.push(`${l} ${m}`) });
  t.after(() => sc.close());
  const first = sc.notAfter;
  assert.equal(first.toISOString(), '2030-01-02T00:00:00.000Z');

  // The CA fails the first renewal only; every call is counted (a renewal asks it at once).
  let asked = 0;
  const issue = ca.issueServingCertificate.bind(ca);
  ca.issueServingCertificate = (names, ttl) => {
    asked++;
    return asked === 1 ? Promise.reject(new CaError('CA_LOAD_FAILED', 'signer unavailable')) : issue(names, ttl);
  };
  clock.advance(12 * 3_600_000 - 1);
  assert.equal(asked, 0, 'not before half its lifetime');
  clock.advance(1);
  assert.equal(asked, 1);
  await sc.renew(); // the renewal in flight
  assert.equal(sc.notAfter, first, 'the current certificate is kept');
  assert.deepEqual(logs, [
    'warn xDS TLS certificate for istiod.istio-system.svc not renewed (half its lifetime passed): signer unavailable; retrying in 60 s, the current one expires 2030-01-02T00:00:00.000Z',
  ]);

  clock.advance(60_000 - 1);
  assert.equal(asked, 1);
  clock.advance(1);
  assert.equal(asked, 2);
  await sc.renew();
  assert.equal(sc.notAfter.toISOString(), '2030-01-02T12:01:00.000Z');
  assert.equal(logs[1], 'info xDS TLS certificate for istiod.istio-system.svc renewed (half its lifetime passed): expires 2030-01-02T12:01:00.000Z');
  // The next one with half of that lifetime left.
  clock.advance(12 * 3_600_000 - 1);
  assert.equal(asked, 2);
  clock.advance(1);
  assert.equal(asked, 3);
  await sc.renew();
  assert.equal(logs.length, 3);
});
