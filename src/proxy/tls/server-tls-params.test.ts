// tls_params as OpenSSL options: Envoy's server defaults, BoringSSL's cipher syntax, and what is refused.
import assert from 'node:assert/strict';
import { constants } from 'node:crypto';
import { test } from 'node:test';
import { compileServerTlsParams, TlsConfigError } from './server-tls-params.ts';

const TLS13 = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

test("absent: Envoy's server defaults (TLS 1.2 to 1.3, ECDHE AEAD with ChaCha20 preferred when the client prefers it, X25519 and P-256)", () => {
  const p = compileServerTlsParams(undefined);
  assert.deepEqual([p.minVersion, p.maxVersion, p.ecdhCurve], ['TLSv1.2', 'TLSv1.3', 'X25519:P-256']);
  assert.equal(p.ciphers, `${TLS13}:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384`);
  assert.equal(p.secureOptions, constants.SSL_OP_PRIORITIZE_CHACHA);
});

test('versions, standard suite names and TLS 1.3 names (always on, so dropped from the list)', () => {
  const p = compileServerTlsParams({
    tls_minimum_protocol_version: 'TLSv1_3',
    tls_maximum_protocol_version: 'TLS_AUTO',
    cipher_suites: ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'TLS_AES_128_GCM_SHA256', 'ECDHE-ECDSA-AES128-SHA'],
    ecdh_curves: ['P-384'],
  });
  assert.deepEqual([p.minVersion, p.maxVersion, p.ciphers, p.ecdhCurve, p.secureOptions], ['TLSv1.3', 'TLSv1.3', `${TLS13}:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-SHA`, 'P-384', 0]);
});

test('what OpenSSL cannot serve is refused, naming the field', () => {
  const refused: [Parameters<typeof compileServerTlsParams>[0], string][] = [
    [{ cipher_suites: ['ECDHE-RSA-AES128-GCM-SHA256', 'NOT-A-CIPHER'] }, 'cipher_suites[1]'],
    [{ cipher_suites: ['TLS_AES_128_GCM_SHA256'] }, 'cipher_suites'],
    [{ ecdh_curves: ['X25519', 'P-999'] }, 'ecdh_curves[1]'],
    [{ tls_minimum_protocol_version: 'TLSv9' }, 'tls_minimum_protocol_version'],
    [{ tls_minimum_protocol_version: 'TLSv1_3', tls_maximum_protocol_version: 'TLSv1_2' }, 'tls_params'],
  ];
  for (const [params, field] of refused) {
    assert.throws(() => compileServerTlsParams(params), (err: unknown) => err instanceof TlsConfigError && err.field === field, field);
  }
});
