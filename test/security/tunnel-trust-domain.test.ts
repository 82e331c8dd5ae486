// The mesh tunnel takes peers of the mesh's trust domain and its aliases only, as Istio's inbound mTLS
// does (URI-prefix SAN matchers `spiffe://<td>/`): a peer of another trust domain under the same root
// is refused at the handshake and counted. The listener is translated from YAML and pushed to a real
// proxy; an update (an alias dropped) applies to the next handshake.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa, type TestCa } from '../proxy/certs.ts';
import { push, startProxy } from '../proxy/harness.ts';

const view: ProxyView = Object.freeze({
  id: 'sidecar~127.0.0.1~api-0.shop~shop.svc.cluster.local',
  role: 'sidecar',
  namespace: 'shop',
  workloadName: 'api',
  serviceAccount: 'api',
  labels: { app: 'api' },
  ip: '127.0.0.1',
  appPorts: {},
});

const mesh = (aliases: string) => `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec:
  meshConfig: {trustDomain: new-td, trustDomainAliases: [${aliases}]}
`;

/** The `connect_terminate` listener translation gives this mesh. */
function tunnelListener(aliases: string): TypedAny {
  const { resources, diagnostics } = loadText(mesh(aliases));
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const l = buildProxyResources(buildSnapshot(resources, [], '1'), view).get(TypeUrl.Listener)?.get('connect_terminate');
  assert.ok(l);
  return l;
}

let ca: TestCa;
let env: Awaited<ReturnType<typeof startProxy>>;
let tunnel: number;

before(async () => {
  ca = await makeCa();
  env = await startProxy({ nodeId: view.id });
  env.proxy.secrets.setLocal('default', await ca.issue('spiffe://new-td/ns/shop/sa/api'));
  push(env.proxy, [tunnelListener('old-td'), { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } }]);
  tunnel = await env.port('connect_terminate');
});

after(async () => {
  await env?.close();
});

/** One request over the tunnel as the peer `id`: its status (404: accepted, no chain for the port), or the error. */
async function asPeer(id: string): Promise<number | Error> {
  const client = await ca.issue(id);
  return new Promise((resolve) => {
    const session = http2.connect(`https://127.0.0.1:${tunnel}`, { ca: ca.ca, ...client, checkServerIdentity: () => undefined });
    session.on('error', (err) => resolve(err));
    session.on('close', () => resolve(new Error('closed')));
    const req = session.request({ ':path': '/', 'x-outrigger-target-port': '9' });
    req.on('error', (err) => resolve(err));
    req.on('response', (h) => {
      resolve(Number(h[':status']));
      session.close();
    });
    req.end();
  });
}

async function counter(stat: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${env.admin}/stats/prometheus`)).text();
  const m = text.match(new RegExp(`^envoy_listener_ssl_${stat}\\{envoy_listener_address="0\\.0\\.0\\.0_15008"\\} (\\d+)`, 'm'));
  return m ? Number(m[1]) : 0;
}

test('the listener carries a URI-prefix matcher for the trust domain and each alias', () => {
  const text = JSON.stringify(tunnelListener('old-td'));
  assert.match(text, /"match_typed_subject_alt_names":\[\{"san_type":"URI","matcher":\{"prefix":"spiffe:\/\/new-td\/"\}\},\{"san_type":"URI","matcher":\{"prefix":"spiffe:\/\/old-td\/"\}\}\]/);
});

test('a peer of the trust domain or an alias is served; one of another trust domain under the same root is refused', async () => {
  const refused = await counter('fail_verify_san');
  assert.equal(await asPeer('spiffe://new-td/ns/web/sa/web'), 404);
  assert.equal(await asPeer('spiffe://old-td/ns/web/sa/web'), 404);
  assert.ok((await asPeer('spiffe://other-td/ns/web/sa/web')) instanceof Error);
  // A trust domain that only starts like the mesh's is another one.
  assert.ok((await asPeer('spiffe://new-td.evil/ns/web/sa/web')) instanceof Error);
  assert.equal(await counter('fail_verify_san'), refused + 2);
});

test('a listener update applies to the next handshake: an alias dropped is refused', async () => {
  push(env.proxy, [tunnelListener('')], 'v2');
  assert.equal(await asPeer('spiffe://new-td/ns/web/sa/web'), 404);
  assert.ok((await asPeer('spiffe://old-td/ns/web/sa/web')) instanceof Error);
});
