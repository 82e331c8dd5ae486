// Gateway server TLS translated from YAML into a real router proxy and held against real TLS clients:
// versions and cipher suites (the server's, meshConfig.tlsDefaults, Envoy's defaults), untyped SAN
// matchers, certificates from files (file-cert:/file-root:), and an RSA and an ECDSA certificate side by side.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { after, before, test } from 'node:test';
import { ProxyConfigError } from '../../src/proxy/config/config-error.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa, type TestCa } from './certs.ts';
import { appEntry, type Cred, resourcesOf, routeToApp, secret } from './gateway-tls-fixture.ts';
import { echoBackend, push, startProxy } from './harness.ts';

const HOSTS = ['v13', 'aes256', 'plain', 'ip', 'f', 'fm', 'multi', 'only'].map((h) => `${h}.example.com`);

let dir: string;
let env: Awaited<ReturnType<typeof startProxy>>;
let app: Awaited<ReturnType<typeof echoBackend>>;
let ca: TestCa;
let rsa: Cred;
let ecdsa: Cred;
let mixed: number;
let single: number;

/** A self-signed certificate for multi.example.com with an RSA or an EC key. */
function selfSigned(kind: 'rsa' | 'ec'): Cred {
  const key = path.join(dir, `${kind}.key`);
  const cert = path.join(dir, `${kind}.pem`);
  const alg = kind === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  execFileSync('openssl', ['req', '-x509', ...alg, '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=multi.example.com', '-addext', 'subjectAltName=DNS:multi.example.com'], { stdio: 'ignore' });
  return { cert: execFileSync('cat', [cert], { encoding: 'utf8' }), key: execFileSync('cat', [key], { encoding: 'utf8' }) };
}

const yaml = (files: string) => `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec:
  meshConfig:
    tlsDefaults: {cipherSuites: [ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-ECDSA-AES256-GCM-SHA384, ECDHE-ECDSA-CHACHA20-POLY1305]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: app}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https-v13, protocol: HTTPS}
      hosts: [v13.example.com]
      tls: {mode: SIMPLE, credentialName: web-cert, minProtocolVersion: TLSV1_3}
    - port: {number: 443, name: https-aes256, protocol: HTTPS}
      hosts: [aes256.example.com]
      tls: {mode: SIMPLE, credentialName: web-cert, cipherSuites: [ECDHE-ECDSA-AES256-GCM-SHA384, TLS_AES_128_GCM_SHA256]}
    - port: {number: 443, name: https-plain, protocol: HTTPS}
      hosts: [plain.example.com]
      tls: {mode: SIMPLE, credentialName: web-cert}
    - port: {number: 443, name: https-ip, protocol: HTTPS}
      hosts: [ip.example.com]
      tls: {mode: MUTUAL, credentialName: web-cert, subjectAltNames: ["10.1.2.3"]}
    - port: {number: 443, name: https-files, protocol: HTTPS}
      hosts: [f.example.com]
      tls: {mode: SIMPLE, serverCertificate: ${files}/web.pem, privateKey: ${files}/web.key}
    - port: {number: 443, name: https-files-mutual, protocol: HTTPS}
      hosts: [fm.example.com]
      tls: {mode: MUTUAL, serverCertificate: ${files}/web.pem, privateKey: ${files}/web.key, caCertificates: ${files}/ca.pem}
    - port: {number: 443, name: https-multi, protocol: HTTPS}
      hosts: [multi.example.com]
      tls: {mode: SIMPLE, credentialNames: [multi-rsa, multi-ecdsa]}
    - port: {number: 9443, name: https-only, protocol: HTTPS}
      hosts: [only.example.com]
      tls: {mode: SIMPLE, credentialName: web-cert, minProtocolVersion: TLSV1_2, maxProtocolVersion: TLSV1_2, cipherSuites: [ECDHE-ECDSA-AES256-GCM-SHA384]}
---
${appEntry(app.port)}---
${routeToApp('app', HOSTS)}`;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'gateway-tls-'));
  app = await echoBackend();
  ca = await makeCa('gateway-ca');
  const web = await ca.issueWithSans(HOSTS.map((value) => ({ type: 'dns' as const, value })));
  writeFileSync(path.join(dir, 'web.pem'), web.cert);
  writeFileSync(path.join(dir, 'web.key'), web.key);
  writeFileSync(path.join(dir, 'ca.pem'), ca.ca);
  rsa = selfSigned('rsa');
  ecdsa = selfSigned('ec');
  const secrets = secret('web-cert', web, ca.ca) + secret('multi-rsa', rsa) + secret('multi-ecdsa', ecdsa);
  env = await startProxy({ role: 'router' });
  push(env.proxy, resourcesOf(secrets + yaml(dir)));
  mixed = await env.port('0.0.0.0_8443');
  single = await env.port('0.0.0.0_9443');
});

after(async () => {
  await env?.close();
  app?.server.close();
});

interface Answer {
  status: number;
  protocol: string | null;
  cipher: string;
  peer: PeerCertificate;
}

function get(servername: string, extra: Record<string, unknown> = {}, port = mixed): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, servername, path: '/', headers: { host: servername }, ca: ca.ca, agent: false, ...extra }, (res) => {
      const s = res.socket as TLSSocket;
      const answer = { status: res.statusCode ?? 0, protocol: s.getProtocol(), cipher: s.getCipher().name, peer: s.getPeerCertificate() };
      res.resume();
      res.on('end', () => resolve(answer));
    });
    req.on('error', reject);
    req.end();
  });
}

const tls12 = (ciphers: string) => ({ maxVersion: 'TLSv1.2', ciphers });

test('minProtocolVersion TLSV1_3 refuses a TLS 1.2 client and serves TLS 1.3, beside servers that take TLS 1.2 on the same port', async () => {
  await assert.rejects(get('v13.example.com', { maxVersion: 'TLSv1.2' }));
  assert.equal((await get('v13.example.com')).protocol, 'TLSv1.3');
  assert.equal((await get('plain.example.com', { maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
});

test("the server's cipherSuites restrict TLS 1.2 (a TLS 1.3 name in them is ignored), over meshConfig.tlsDefaults", async () => {
  await assert.rejects(get('aes256.example.com', tls12('ECDHE-ECDSA-AES128-GCM-SHA256')));
  assert.equal((await get('aes256.example.com', tls12('ECDHE-ECDSA-AES256-GCM-SHA384'))).cipher, 'ECDHE-ECDSA-AES256-GCM-SHA384');
  assert.equal((await get('aes256.example.com')).protocol, 'TLSv1.3');
});

test('meshConfig.tlsDefaults cipherSuites apply to a server without its own: CBC refused, ChaCha20 served', async () => {
  await assert.rejects(get('plain.example.com', tls12('ECDHE-ECDSA-AES128-SHA')));
  assert.equal((await get('plain.example.com', tls12('ECDHE-ECDSA-CHACHA20-POLY1305'))).cipher, 'ECDHE-ECDSA-CHACHA20-POLY1305');
});

test('a port whose servers share their settings (one TLS context for all) enforces them too', async () => {
  await assert.rejects(get('only.example.com', { minVersion: 'TLSv1.3' }, single));
  await assert.rejects(get('only.example.com', tls12('ECDHE-ECDSA-AES128-GCM-SHA256'), single));
  const ok = await get('only.example.com', {}, single);
  assert.deepEqual([ok.status, ok.protocol, ok.cipher], [200, 'TLSv1.2', 'ECDHE-ECDSA-AES256-GCM-SHA384']);
});

test('subjectAltNames "10.1.2.3" admits a client certificate whose IP SAN is 10.1.2.3, and refuses another', async () => {
  assert.equal((await get('ip.example.com', await ca.issueWithSans([{ type: 'ip', value: '10.1.2.3' }]))).status, 200);
  await assert.rejects(get('ip.example.com', await ca.issueWithSans([{ type: 'ip', value: '10.1.2.4' }])));
});

test('serverCertificate/privateKey and caCertificates files are served (read when the listener arrives)', async () => {
  assert.equal((await get('f.example.com')).status, 200);
  await assert.rejects(get('fm.example.com'));
  assert.equal((await get('fm.example.com', await ca.issueWithSans([{ type: 'dns', value: 'client.example.com' }]))).status, 200);
});

test('a file that cannot be read is a NACK naming the file; the listener keeps serving', async () => {
  const missing = path.join(dir, 'missing');
  const listeners = resourcesOf(yaml(missing)).filter((r) => r['@type'] === TypeUrl.Listener);
  assert.throws(
    () => env.proxy.xds.apply(TypeUrl.Listener, listeners, 'v2'),
    (err: unknown) => err instanceof ProxyConfigError && err.message.includes(`cannot read ${missing}/web.pem`) && !err.message.includes('ENOENT'),
  );
  assert.equal((await get('f.example.com')).status, 200);
});

test('credentialNames: the RSA and the ECDSA certificate are both served; the client picks by its signature algorithms', async () => {
  const trust = { ca: [rsa.cert, ecdsa.cert] };
  const ec = await get('multi.example.com', { ...trust, sigalgs: 'ecdsa_secp256r1_sha256' });
  const rs = await get('multi.example.com', { ...trust, sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256' });
  assert.equal(ec.peer.pubkey?.length, 65, 'an uncompressed P-256 point');
  assert.equal(rs.peer.bits, 2048);
});
