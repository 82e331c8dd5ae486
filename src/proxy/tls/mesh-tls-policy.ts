// Istio's mesh TLS settings as node:tls options: TLS 1.2 minimum (1.3 preferred), ECDHE with AEAD
// suites only (Node's default list also allows DHE and CBC, so it must be explicit), X25519 and P-256.

/** TLS 1.2 suites; TLS 1.3 suites are all AEAD and stay OpenSSL's defaults. */
export const MESH_CIPHERS = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');

export const MESH_ECDH_CURVES = 'X25519:P-256';

/** The mesh tunnel speaks HTTP/2 only (docs/internals.md §5). */
export const MESH_ALPN: readonly string[] = ['h2'];

export const meshTlsBase = {
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.3',
  ciphers: MESH_CIPHERS,
  ecdhCurve: MESH_ECDH_CURVES,
  honorCipherOrder: true,
} as const;
