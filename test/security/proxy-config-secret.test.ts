// `outrigger proxy-config secret`: a real proxy holding a CA-issued workload certificate shows its chain,
// serial, validity and SPIFFE ID through its admin API (found in the mesh state), never its key.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, test } from 'node:test';
import { openProxyAdmin } from '../../src/cli/proxy-admin-address.ts';
import { formatHostPort } from '../../src/runtime/reachable-address.ts';
import { fetchProxyDump, renderProxyConfig } from '../../src/cli/proxy-config.ts';
import { certificateRows } from '../../src/cli/secret-table.ts';
import type { CertificateManager } from '../../src/proxy/tls/certificate-manager.ts';
import type { MeshState } from '../../src/runtime/state.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { MeshFixture } from '../identity/mesh-tls-harness.ts';
import { push, startProxy } from '../proxy/harness.ts';

let mesh: MeshFixture;
let certs: CertificateManager;
let env: Awaited<ReturnType<typeof startProxy>>;
let state: Pick<MeshState, 'mode' | 'components'>;

before(async () => {
  mesh = await MeshFixture.create();
  certs = await mesh.manager('shop', 'cart');
  env = await startProxy({ nodeId: 'sidecar~127.0.0.1~cart-0.shop~shop.svc.cluster.local' });
  // As run-proxy does: the chain from the CA and the proxy's own key become the local `default`.
  env.proxy.secrets.setLocal('default', { cert: certs.current!.certChainPem, key: certs.current!.keyPem });
  push(env.proxy, [{ '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: mesh.ca.trustBundle().join('') } } }]);
  state = {
    mode: 'process',
    components: [
      { name: 'shop/cart-0', kind: 'workload', namespace: 'shop', ports: { 'proxy:15000': env.admin }, sidecar: true, status: 'running', restarts: 0 },
      { name: 'shop/cart-1', kind: 'workload', namespace: 'shop', ports: { 'proxy:15000': 1 }, sidecar: true, status: 'running', restarts: 0 },
    ],
  };
});

after(async () => {
  certs?.stop();
  await env?.close();
  mesh?.close();
});

test('the proxy admin address comes from the state by pod.namespace or node id; ambiguous prefixes find none', async () => {
  const admin = async (s: typeof state, proxy: string) => {
    const opened = await openProxyAdmin(s, proxy);
    await opened?.close();
    return opened && formatHostPort(opened);
  };
  assert.equal(await admin(state, 'cart-0.shop'), `127.0.0.1:${env.admin}`);
  assert.equal(await admin(state, 'sidecar~127.0.0.1~cart-0.shop~shop.svc.cluster.local'), `127.0.0.1:${env.admin}`);
  assert.equal(await admin(state, 'cart'), undefined);
  // Netns mode forwards into the pod the state names; a component with none has no admin to open.
  assert.equal(await admin({ ...state, mode: 'netns' }, 'cart-0.shop'), undefined);
});

test('the dump from the proxy holds the workload chain and the trust bundle, never a private key', async () => {
  const dump = await fetchProxyDump('cart-0.shop', state as MeshState);
  assert.ok(dump, 'the proxy answered');
  const text = JSON.stringify(dump);
  assert.doesNotMatch(text, /PRIVATE KEY/);
  assert.match(text, /"name":"default"/);
  assert.match(text, /"name":"ROOTCA"/);
});

test('the secret table shows chain, serial, validity and SPIFFE ID of the certificate the CA issued', async () => {
  const dump = (await fetchProxyDump('cart-0.shop', state as MeshState))!;
  const leaf = new X509Certificate(certs.current!.certChainPem);
  const section = dump.configs.find((c) => String(c['@type']).endsWith('SecretsConfigDump'))!;
  const rows = certificateRows(section['dynamic_active_secrets'] as Record<string, unknown>[], Date.now());
  const def = rows.filter((r) => r.secret === 'default');
  assert.equal(def.length, 1, 'a self-signed root signs directly: the chain is the leaf (the root is in ROOTCA)');
  assert.equal(def[0]?.spiffeId, 'spiffe://cluster.local/ns/shop/sa/cart');
  assert.equal(def[0]?.serial, leaf.serialNumber.toLowerCase());
  assert.equal(def[0]?.notAfter, new Date(leaf.validTo).toISOString());
  assert.equal(def[0]?.notBefore, new Date(leaf.validFrom).toISOString());
  assert.equal(def[0]?.valid, true);
  assert.ok(rows.some((r) => r.secret === 'ROOTCA' && r.type === 'CA'));
  const table = renderProxyConfig('secret', dump, false);
  assert.match(table, /default\s+Cert Chain\s+true\s+[0-9a-f]+\s+\S+Z\s+\S+Z\s+spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart/);
  assert.match(table, /ROOTCA\s+CA\s+true/);
  // Validity is judged against the clock given: a day after notAfter the leaf is no longer valid.
  const later = renderProxyConfig('secret', dump, false, new Date(leaf.validTo).getTime() + 86_400_000);
  assert.match(later, /default\s+Cert Chain\s+false/);
});

test('a chain with an intermediate lists each certificate, leaf first', () => {
  const chain = certs.current!.certChainPem + mesh.ca.trustBundle().join('');
  const secrets = [{ name: 'default', secret: { name: 'default', tls_certificate: { certificate_chain: { inline_string: chain } } } }];
  const rows = certificateRows(secrets, Date.now());
  assert.deepEqual(rows.map((r) => [r.index, r.spiffeId !== '-']), [[0, true], [1, false]]);
  assert.match(renderProxyConfig('secret', { configs: [{ '@type': 'x.SecretsConfigDump', dynamic_active_secrets: secrets }] }, false), /chain\[1\]/);
});
