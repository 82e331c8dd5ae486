// A Gateway server's client-certificate checks, translated from YAML into a real router proxy and held
// against real TLS clients: `subjectAltNames`, `verifyCertificateHash` and `verifyCertificateSpki` on
// MUTUAL and OPTIONAL_MUTUAL servers, refused at the handshake and counted in the listener's TLS stats.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import https from 'node:https';
import { after, before, test } from 'node:test';
import { ProxyConfigError } from '../../src/proxy/config/config-error.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa, type TestCa } from '../proxy/certs.ts';
import { appEntry, type Cred, resourcesOf, routeToApp, secret } from '../proxy/gateway-tls-fixture.ts';
import { echoBackend, push, startProxy } from '../proxy/harness.ts';

const PARTNER = 'spiffe://partner.example/ns/shop/sa/partner';

const yaml = (appPort: number, web: Cred, ca: string, hash: string, spki: string) => `${secret('mtls-cert', web, ca)}apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: app}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https-san, protocol: HTTPS}
      hosts: [m.example.com]
      tls: {mode: MUTUAL, credentialName: mtls-cert, subjectAltNames: [${PARTNER}]}
    - port: {number: 443, name: https-optional, protocol: HTTPS}
      hosts: [o.example.com]
      tls: {mode: OPTIONAL_MUTUAL, credentialName: mtls-cert, subjectAltNames: [${PARTNER}]}
    - port: {number: 443, name: https-pinned, protocol: HTTPS}
      hosts: [p.example.com]
      tls: {mode: MUTUAL, credentialName: mtls-cert, verifyCertificateHash: ["${hash}"], verifyCertificateSpki: ["${spki}"]}
    - port: {number: 9443, name: tls-pass, protocol: TLS}
      hosts: [pass.example.com]
      tls: {mode: PASSTHROUGH}
    - port: {number: 9443, name: https-mixed, protocol: HTTPS}
      hosts: [m.example.com]
      tls: {mode: MUTUAL, credentialName: mtls-cert, subjectAltNames: [${PARTNER}]}
---
${appEntry(appPort)}---
${routeToApp('app', ['m.example.com', 'o.example.com', 'p.example.com'])}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: pass, namespace: app}
spec:
  hosts: [pass.example.com]
  gateways: [gw]
  tls: [{match: [{sniHosts: [pass.example.com]}], route: [{destination: {host: app.internal, port: {number: 80}}}]}]
`;

let env: Awaited<ReturnType<typeof startProxy>>;
let app: Awaited<ReturnType<typeof echoBackend>>;
let ca: TestCa;
let port: number;
let mixedPort: number;
let translated: ReturnType<typeof resourcesOf>;
let partner: Cred;
let stranger: Cred;
let hashPinned: Cred;
let spkiPinned: Cred;

before(async () => {
  app = await echoBackend();
  ca = await makeCa('gateway-ca');
  const web = await ca.issueWithSans([{ type: 'dns', value: 'm.example.com' }, { type: 'dns', value: 'o.example.com' }, { type: 'dns', value: 'p.example.com' }]);
  partner = await ca.issue(PARTNER);
  stranger = await ca.issue('spiffe://partner.example/ns/shop/sa/stranger');
  hashPinned = await ca.issue('spiffe://pinned.example/ns/a/sa/hash');
  spkiPinned = await ca.issue('spiffe://pinned.example/ns/a/sa/spki');
  const hash = createHash('sha256').update(new X509Certificate(hashPinned.cert).raw).digest('hex').toUpperCase().match(/../g)?.join(':') ?? '';
  const spki = createHash('sha256').update(new X509Certificate(spkiPinned.cert).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  translated = resourcesOf(yaml(app.port, web, ca.ca, hash, spki));
  env = await startProxy({ role: 'router' });
  push(env.proxy, translated);
  port = await env.port('0.0.0.0_8443');
  mixedPort = await env.port('0.0.0.0_9443');
});

after(async () => {
  await env?.close();
  app?.server.close();
});

function get(servername: string, client?: Cred, at = port): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: at, servername, path: '/', headers: { host: servername }, ca: ca.ca, agent: false, ...client }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

async function counter(stat: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${env.admin}/stats/prometheus`)).text();
  const m = text.match(new RegExp(`^envoy_listener_ssl_${stat}\\{envoy_listener_address="0\\.0\\.0\\.0_8443"\\} (\\d+)`, 'm'));
  return m ? Number(m[1]) : 0;
}

test('MUTUAL with subjectAltNames: only the named client gets in, another certificate of the same CA is refused', async () => {
  const before = await counter('fail_verify_san');
  assert.equal(await get('m.example.com', partner), 200);
  await assert.rejects(get('m.example.com', stranger));
  await assert.rejects(get('m.example.com'));
  // The server counts before it closes, so the client has seen the close after the count.
  assert.equal(await counter('fail_verify_san'), before + 1);
  assert.ok((await counter('handshake')) >= 1);
});

test('on a port that also passes TLS through (the SNI picks the chain first), the checks hold too', async () => {
  assert.equal(await get('m.example.com', partner, mixedPort), 200);
  await assert.rejects(get('m.example.com', stranger, mixedPort));
});

test('OPTIONAL_MUTUAL: no certificate passes, a certificate is held to the checks (and to the CA)', async () => {
  assert.equal(await get('o.example.com'), 200);
  assert.equal(await get('o.example.com', partner), 200);
  await assert.rejects(get('o.example.com', stranger));
  const untrusted = await (await makeCa('stranger-ca')).issue(PARTNER);
  const before = await counter('fail_verify_error');
  await assert.rejects(get('o.example.com', untrusted));
  assert.equal(await counter('fail_verify_error'), before + 1);
});

test('verifyCertificateHash and verifyCertificateSpki: either pin lets a client in, an unpinned one is refused', async () => {
  const before = await counter('fail_verify_cert_hash');
  assert.equal(await get('p.example.com', hashPinned), 200);
  assert.equal(await get('p.example.com', spkiPinned), 200);
  await assert.rejects(get('p.example.com', partner));
  assert.equal(await counter('fail_verify_cert_hash'), before + 1);
});

test('a matcher the proxy cannot enforce is a NACK naming the field, never dropped: the last good checks hold', async () => {
  const listeners = translated.filter((r) => r['@type'] === TypeUrl.Listener);
  const bad = JSON.parse(JSON.stringify(listeners).replace('"match_subject_alt_names":[', '"match_typed_subject_alt_names":[{"san_type":"OTHER_NAME","matcher":{"exact":"x"}}],"match_subject_alt_names":['));
  assert.notDeepEqual(bad, listeners);
  assert.throws(() => env.proxy.xds.apply(TypeUrl.Listener, bad, 'v2'), (err: unknown) => err instanceof ProxyConfigError && /match_typed_subject_alt_names\[0\]\.san_type: unsupported san_type OTHER_NAME/.test(err.message));
  assert.equal(await get('m.example.com', partner), 200);
  await assert.rejects(get('m.example.com', stranger));
});
