// A tunnelled stream's destination address is the address the caller's mTLS connection reached, never
// the host the caller wrote in its CONNECT's :authority (which only names the target port). Network RBAC
// reads it as destination.ip: a DENY on the workload's own address holds whatever address a mesh peer
// names. Real proxy, real mTLS, real HTTP/2 CONNECT from an arbitrary mesh identity.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from '../proxy/certs.ts';
import { push, startProxy } from '../proxy/harness.ts';

const spiffe = (sa: string) => `spiffe://cluster.local/ns/shop/sa/${sa}`;
const yaml = `apiVersion: v1
kind: Service
metadata: {name: vault, namespace: shop}
spec:
  selector: {app: db}
  ports: [{name: tcp-vault, port: 5434}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-to-pod-ip, namespace: shop}
spec:
  selector: {matchLabels: {app: db}}
  action: DENY
  rules: [{when: [{key: destination.ip, values: ["127.0.0.1"]}]}]
`;

let ca: Awaited<ReturnType<typeof makeCa>>;
let server: Awaited<ReturnType<typeof startProxy>>;
let app: net.Server;
let appHits = 0;

before(async () => {
  ca = await makeCa();
  app = net.createServer((s) => {
    appHits++;
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as net.AddressInfo).port;
  const view = { id: 'sidecar~127.0.0.1~db-0.shop~shop.svc.cluster.local', role: 'sidecar', namespace: 'shop', workloadName: 'db', serviceAccount: 'db', labels: { app: 'db' }, ip: '127.0.0.1', appPorts: { 5434: appPort } } as ProxyView;
  server = await startProxy({ nodeId: view.id, identity: spiffe('db'), metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'db', LABELS: { app: 'db' } } });
  server.proxy.secrets.setLocal('default', await ca.issue(spiffe('db')));
  const db: WorkloadInstance = { name: 'db-0', namespace: 'shop', labels: { app: 'db' }, serviceAccount: 'db', address: '127.0.0.1', appPorts: { 5434: appPort }, tunnelAddress: '127.0.0.1:15008', healthy: true, source: 'deployment' };
  const resources = [...buildProxyResources(buildSnapshot(loadText(yaml).resources, [db], '1'), view).values()].flatMap((m) => [...m.values()]) as TypedAny[];
  push(server.proxy, [...resources, { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } }]);
});

after(async () => {
  await server.close();
  app.close();
});

/** A mesh peer's CONNECT to `authority`, a byte sent once answered: what came back before the stream closed (or the echo). */
async function connectVia(authority: string): Promise<string> {
  const id = await ca.issue(spiffe('anyone'));
  const port = await server.port('connect_terminate');
  const session = http2.connect(`https://127.0.0.1:${port}`, { cert: id.cert, key: id.key, ca: ca.ca, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
  session.on('error', () => {});
  try {
    return await new Promise<string>((resolve) => {
      let echoed = '';
      const s = session.request({ ':method': 'CONNECT', ':authority': authority }, { endStream: false });
      s.on('error', () => {});
      s.on('response', () => s.write('ping'));
      // Refused: the stream closes. Let through: the app echoes.
      s.on('data', (c: Buffer) => {
        echoed += c.toString();
        if (echoed === 'ping') resolve(echoed);
      });
      s.on('close', () => resolve(echoed));
    });
  } finally {
    session.destroy();
  }
}

test("a DENY on the workload's own address holds whatever address the CONNECT names", async () => {
  const before = appHits;
  assert.equal(await connectVia('127.0.0.1:5434'), '', 'naming the workload: refused');
  assert.equal(await connectVia('10.9.9.9:5434'), '', 'naming another address: refused too');
  assert.equal(appHits, before, 'the app never saw either');
});
