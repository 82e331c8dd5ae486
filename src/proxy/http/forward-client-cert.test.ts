// x-forwarded-client-cert on an HCM with forward_client_cert_details (Istio's gateways), as Envoy's
// mutateXfccRequestHeader writes it: each mode with and without a verified client certificate, the
// element's fields in Envoy's order and format; an HCM without the setting keeps the mesh peer element.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import crypto, { createHash, X509Certificate } from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { before, test } from 'node:test';
import * as x509 from '@peculiar/x509';
import type { HttpChain } from '../listener/compile-listener.ts';
import { compileForwardClientCert, connectionHeaders, type HcmRuntime } from './connection-manager.ts';
import { compilePathNormalizer } from './normalize-path.ts';
import type { ConnectionInfo, DownstreamRequest } from './stream.ts';

x509.cryptoProvider.set(globalThis.crypto);

let der: Buffer;
const details = { subject: { value: true }, cert: true, uri: true, dns: true };

before(async () => {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = await globalThis.crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'C=US, O=Example, CN=client.example.com',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: alg,
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'client.example.com' },
        { type: 'url', value: 'spiffe://partner.example/ns/shop/sa/client' },
        { type: 'dns', value: 'alt.example.com' },
      ]),
    ],
  });
  der = Buffer.from(cert.rawData);
});

const rt = { localPrincipal: 'spiffe://cluster.local/ns/istio-system/sa/gateway' } as HcmRuntime;

function chain(hcm: Parameters<typeof compileForwardClientCert>[0]): HttpChain {
  const fcc = compileForwardClientCert(hcm);
  return { kind: 'http', statPrefix: 'gw', filters: [], websocket: false, normalize: compilePathNormalizer('BASE'), useRemoteAddress: false, xffTrustedHops: 0, serverHeader: null, suppressEnvoyHeaders: false, generateRequestId: true, ...(fcc ? { forwardClientCert: fcc } : {}) };
}

/** The x-forwarded-client-cert the upstream gets for a request that sent `sent`. */
function xfcc(hc: HttpChain, connection: Partial<ConnectionInfo>, sent?: string): string | string[] | undefined {
  const headers = new Map<string, string | string[]>(sent === undefined ? [] : [['x-forwarded-client-cert', sent]]);
  const request = { headers, scheme: 'https', connection: { remoteAddress: '10.0.0.1', remotePort: 1, localAddress: '10.0.0.2', localPort: 8443, tls: true, ...connection } } as unknown as DownstreamRequest;
  connectionHeaders(rt, hc, request, undefined);
  return headers.get('x-forwarded-client-cert');
}

test('SANITIZE_SET: Hash, Cert (URL-encoded PEM), Subject (RFC 2253), every URI and DNS SAN, in Envoy\'s order', () => {
  const pem = new X509Certificate(der).toString();
  const hash = createHash('sha256').update(der).digest('hex');
  const cert = pem.replaceAll('\n', '%0A').replaceAll(' ', '%20').replaceAll('+', '%2B').replaceAll('/', '%2F').replaceAll('=', '%3D');
  assert.ok(cert.startsWith('-----BEGIN%20CERTIFICATE-----%0A') && cert.endsWith('-----END%20CERTIFICATE-----%0A'));
  const want = `Hash=${hash};Cert="${cert}";Subject="CN=client.example.com,O=Example,C=US";URI=spiffe://partner.example/ns/shop/sa/client;DNS=client.example.com;DNS=alt.example.com`;
  assert.equal(xfcc(chain({ forward_client_cert_details: 'SANITIZE_SET', set_current_client_cert_details: details }), { peerCertificate: der }, 'By=forged;Hash=forged'), want);
});

test('clients taking turns: each connection\'s element is made once, not once per request', () => {
  const Real = crypto.X509Certificate;
  let made = 0;
  crypto.X509Certificate = class extends Real {
    constructor(d: Buffer) {
      super(d);
      made++;
    }
  };
  syncBuiltinESMExports();
  try {
    const hc = chain({ forward_client_cert_details: 'SANITIZE_SET', set_current_client_cert_details: details });
    // Two connections' peer certificates (each connection reads its own Buffer from the handshake).
    const a = Buffer.from(der);
    const b = Buffer.from(der);
    for (let i = 0; i < 4; i++) for (const peer of [a, b]) assert.match(String(xfcc(hc, { peerCertificate: peer })), /^Hash=/);
    assert.equal(made, 2);
  } finally {
    crypto.X509Certificate = Real;
    syncBuiltinESMExports();
  }
});

test('only the details asked for', () => {
  const hc = chain({ forward_client_cert_details: 'SANITIZE_SET', set_current_client_cert_details: { uri: true } });
  assert.match(String(xfcc(hc, { peerCertificate: der })), /^Hash=[0-9a-f]{64};URI=spiffe:\/\/partner\.example\/ns\/shop\/sa\/client$/);
});

test('without a client certificate the client\'s header is removed, whatever the mode but ALWAYS_FORWARD_ONLY', () => {
  for (const mode of ['SANITIZE', 'FORWARD_ONLY', 'APPEND_FORWARD', 'SANITIZE_SET']) {
    assert.equal(xfcc(chain({ forward_client_cert_details: mode, set_current_client_cert_details: details }), {}, 'Hash=forged'), undefined, mode);
  }
  assert.equal(xfcc(chain({ forward_client_cert_details: 'ALWAYS_FORWARD_ONLY' }), {}, 'Hash=sent'), 'Hash=sent');
});

test('with a client certificate: SANITIZE removes, FORWARD_ONLY passes the client\'s on, APPEND_FORWARD adds this hop after it', () => {
  assert.equal(xfcc(chain({ forward_client_cert_details: 'SANITIZE' }), { peerCertificate: der }, 'Hash=sent'), undefined);
  assert.equal(xfcc(chain({ forward_client_cert_details: 'FORWARD_ONLY' }), { peerCertificate: der }, 'Hash=sent'), 'Hash=sent');
  const appended = String(xfcc(chain({ forward_client_cert_details: 'APPEND_FORWARD', set_current_client_cert_details: { dns: true } }), { peerCertificate: der }, 'Hash=sent'));
  assert.match(appended, /^Hash=sent,Hash=[0-9a-f]{64};DNS=client\.example\.com;DNS=alt\.example\.com$/);
});

test('a mesh peer on such an HCM gets By= (this proxy\'s SPIFFE ID); an HCM without the setting keeps the mesh element', () => {
  const hc = chain({ forward_client_cert_details: 'SANITIZE_SET', set_current_client_cert_details: { uri: true } });
  assert.match(String(xfcc(hc, { peerCertificate: der, peerPrincipal: 'spiffe://partner.example/ns/shop/sa/client', meshPeer: true })), /^By=spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/gateway;Hash=/);
  const sidecar = chain({});
  assert.equal(xfcc(sidecar, { peerPrincipal: 'spiffe://cluster.local/ns/shop/sa/cart', peerCertHash: 'abc', meshPeer: true }), 'By=spiffe://cluster.local/ns/istio-system/sa/gateway;Hash=abc;Subject="";URI=spiffe://cluster.local/ns/shop/sa/cart');
  assert.equal(xfcc(sidecar, {}, 'Hash=forged'), undefined);
});

test('an unknown mode, or the chain detail, is refused when the listener is compiled', () => {
  assert.throws(() => compileForwardClientCert({ forward_client_cert_details: 'SOMETIMES' }), /unknown forward_client_cert_details SOMETIMES/);
  assert.throws(() => compileForwardClientCert({ forward_client_cert_details: 'SANITIZE_SET', set_current_client_cert_details: { chain: true } }), /chain is not supported/);
});
