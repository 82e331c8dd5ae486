// A Gateway API listener's certificate in another namespace (docs/gateway-api.md): served, from a real
// router proxy, while a ReferenceGrant in the Secret's namespace lets the Gateway's namespace use it;
// without one, or to a gateway of another namespace, the Secret is never translated nor sent.
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, test } from 'node:test';
import { runAnalyzers } from '../../src/analysis/run.ts';
import { loadText } from '../../src/config/load.ts';
import { credentialReaders, mayReceiveSecret } from '../../src/controlplane/credential-readers.ts';
import { GATEWAY_NAME_LABEL, MANAGED_BY_ISTIO, MANAGED_LABEL } from '../../src/model/gateway-api/gateways.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa, type TestCa } from '../proxy/certs.ts';
import { echoBackend, push, startProxy } from '../proxy/harness.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const SECRET = 'kubernetes-gateway://certs/shop-cert';

const grant = `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: infra-gateways, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: infra}]
  to: [{group: "", kind: Secret, name: shop-cert}]
---
`;

const yaml = (cert: { cert: string; key: string }) => `apiVersion: v1
kind: Secret
metadata: {name: shop-cert, namespace: certs}
type: kubernetes.io/tls
data: {tls.crt: ${b64(cert.cert)}, tls.key: ${b64(cert.key)}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: infra}
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    port: 8443
    protocol: HTTPS
    hostname: shop.example.com
    tls: {mode: Terminate, certificateRefs: [{name: shop-cert, namespace: certs}]}
    allowedRoutes: {namespaces: {from: All}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: borrowed, namespace: other}
spec:
  selector: {app: other-gateway}
  servers:
  - port: {number: 9443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE, credentialName: ${SECRET}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: other-gateway, namespace: other}
spec:
  selector: {matchLabels: {app: other-gateway}}
  template:
    metadata: {labels: {app: other-gateway}}
    spec: {serviceAccountName: other-gateway, containers: [{name: proxy, image: proxy}]}
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: infra}
spec: {selector: {app: shop}, ports: [{name: http, port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: infra}
spec:
  parentRefs: [{name: public}]
  rules: [{backendRefs: [{name: shop, port: 80}]}]
`;

/** The proxy `up` starts for the Gateway `infra/public`. */
const gatewayProxy: ProxyView = Object.freeze({
  id: 'router~127.0.0.1~public-istio-0.infra~infra.svc.cluster.local',
  role: 'router',
  namespace: 'infra',
  workloadName: 'public-istio',
  serviceAccount: 'public-istio',
  labels: { [GATEWAY_NAME_LABEL]: 'public', [MANAGED_LABEL]: MANAGED_BY_ISTIO },
  ip: '127.0.0.1',
  appPorts: {},
});
const otherProxy: ProxyView = Object.freeze({ ...gatewayProxy, id: 'router~127.0.0.1~other-gateway-0.other~other.svc.cluster.local', namespace: 'other', workloadName: 'other-gateway', serviceAccount: 'other-gateway', labels: { app: 'other-gateway' } });

let env: Awaited<ReturnType<typeof startProxy>>;
let app: Awaited<ReturnType<typeof echoBackend>>;
let ca: TestCa;
let shopCert: { cert: string; key: string };

function snapshot(withGrant: boolean, version: string) {
  const { resources, diagnostics } = loadText((withGrant ? grant : '') + yaml(shopCert));
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  // The app, without a sidecar: the gateway sends it plaintext.
  const shop = { name: 'shop-0', namespace: 'infra', labels: { app: 'shop' }, serviceAccount: 'default', address: '127.0.0.1', appPorts: { 80: app.port }, healthy: true, source: 'deployment' as const };
  return buildSnapshot(resources, [shop], version);
}

function translated(withGrant: boolean, proxy: ProxyView, version: string) {
  return buildProxyResources(snapshot(withGrant, version), proxy);
}

before(async () => {
  app = await echoBackend();
  ca = await makeCa('shop-ca');
  shopCert = await ca.issueWithSans([{ type: 'dns', value: 'shop.example.com' }]);
  env = await startProxy({ role: 'router' });
});

after(async () => {
  await env?.close();
  app?.server.close();
});

function get(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, servername: 'shop.example.com', path: '/', headers: { host: 'shop.example.com' }, ca: ca.ca, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

test("with a ReferenceGrant, the gateway serves the other namespace's certificate", async () => {
  const out = translated(true, gatewayProxy, '1');
  assert.deepEqual([...(out.get(TypeUrl.Secret)?.keys() ?? [])], [SECRET]);
  push(env.proxy, [...out.values()].flatMap((m) => [...m.values()]), 'v1');
  assert.equal(await get(await env.port('0.0.0.0_8443')), 200);
});

test('without the grant the listener is not served and the Secret is not translated', () => {
  const out = translated(false, gatewayProxy, '2');
  assert.deepEqual([...(out.get(TypeUrl.Secret)?.keys() ?? [])], []);
  assert.equal(out.get(TypeUrl.Listener)?.has('0.0.0.0_8443') ?? false, false);
});

test("a grant to infra's Gateways gives nothing to a gateway of another namespace that names the same Secret", () => {
  // Translation does not build it for the other namespace's proxy ...
  assert.deepEqual([...(translated(true, otherProxy, '3').get(TypeUrl.Secret)?.keys() ?? [])], []);
  // ... and the control plane would not send it to that proxy's identity, nor to an identity of infra
  // that no Gateway names it for.
  const readers = credentialReaders(snapshot(true, '4'));
  assert.equal(mayReceiveSecret(readers, { namespace: 'other', serviceAccount: 'other-gateway' }, SECRET), false);
  assert.equal(mayReceiveSecret(readers, { namespace: 'infra', serviceAccount: 'default' }, SECRET), false);
  assert.equal(mayReceiveSecret(readers, { namespace: 'infra', serviceAccount: 'public-istio' }, SECRET), true);
});

test('analyze says OR2010 at the certificateRef without the grant, and nothing with it', () => {
  const or2010 = (withGrant: boolean) =>
    runAnalyzers(loadText((withGrant ? grant : '') + yaml(shopCert), 'gateway.yaml').resources)
      .filter((d) => d.code === 'OR2010')
      .map((d) => `${d.resource} ${d.field} ${d.message}`);
  assert.deepEqual(or2010(false), [
    'Gateway.gateway.networking.k8s.io infra/public spec.listeners[0].tls.certificateRefs[0].namespace listener https: its certificate is in namespace certs, and no ReferenceGrant in certs lets Gateways of infra use it; the listener is not served',
  ]);
  assert.deepEqual(or2010(true), []);
});

test("a Gateway of another namespace that selects infra's gateway cannot use the grant given to infra's Gateways", () => {
  // Istio's mergeGateways verifies a credential only when the Gateway's namespace is the proxy's; sds.go
  // never sends an unverified kubernetes-gateway:// secret. The hand-written Gateway below, in namespace
  // other, selects infra's gateway and names the Secret that the grant lets only infra's Gateways use.
  const borrowed = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: borrower, namespace: other}
spec:
  selector: {app: public-istio}
  servers:
  - port: {number: 9443, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE, credentialName: ${SECRET}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge, namespace: infra}
spec:
  selector: {matchLabels: {app: public-istio}}
  template:
    metadata: {labels: {app: public-istio}}
    spec: {serviceAccountName: edge, containers: [{name: proxy, image: proxy}]}
`;
  const { resources, diagnostics } = loadText(`${grant}${yaml(shopCert)}---\n${borrowed}`);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const snap = buildSnapshot(resources, [], '5');
  const edge: ProxyView = Object.freeze({ ...gatewayProxy, id: 'router~127.0.0.1~edge-0.infra~infra.svc.cluster.local', workloadName: 'edge', serviceAccount: 'edge', labels: { app: 'public-istio' } });
  assert.deepEqual([...(buildProxyResources(snap, edge).get(TypeUrl.Secret)?.keys() ?? [])], []);
  assert.equal(mayReceiveSecret(credentialReaders(snap), { namespace: 'infra', serviceAccount: 'edge' }, SECRET), false);
});
