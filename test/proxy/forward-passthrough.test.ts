// An app in process mode reaches the mesh through its sidecar's forward proxy (HTTP_PROXY). A plain
// HTTP request for a host and port the mesh knows nothing of takes the path its bytes would take
// through Istio's capture: the passthrough chain forwards it to the address it names (ALLOW_ANY), and
// under REGISTRY_ONLY it is refused with 502, as Istio's block_all. Before, it was a 404 NR.
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import { push, startProxy } from './harness.ts';

const mesh = `apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, ports: [{name: http, port: 9898}]}
`;
const registryOnly = `---
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec: {meshConfig: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}}
`;
const view: ProxyView = { id: 'sidecar~127.0.0.1~web-0.shop~shop.svc.cluster.local', role: 'sidecar', namespace: 'shop', workloadName: 'web', serviceAccount: 'web', labels: { app: 'web' }, ip: '127.0.0.1', appPorts: {} };

let outside: http.Server;
let outsidePort: number;
const proxies: Awaited<ReturnType<typeof startProxy>>[] = [];

async function sidecar(yaml: string): Promise<Awaited<ReturnType<typeof startProxy>>> {
  const env = await startProxy({ nodeId: view.id, metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'web', LABELS: { app: 'web' } } });
  proxies.push(env);
  push(env.proxy, [...buildProxyResources(buildSnapshot(loadText(yaml).resources, [], '1'), view).values()].flatMap((m) => [...m.values()]));
  return env;
}

before(async () => {
  outside = http.createServer((req, res) => res.end(`outside saw ${req.url}`));
  await new Promise<void>((r) => outside.listen(0, '127.0.0.1', r));
  outsidePort = (outside.address() as net.AddressInfo).port;
});

after(async () => {
  for (const p of proxies) await p.close();
  outside.close();
});

function viaProxy(env: Awaited<ReturnType<typeof startProxy>>): Promise<{ status: number; body: string }> {
  return env.port('virtualOutbound').then(
    (port) =>
      new Promise((resolve, reject) => {
        http
          .request({ host: '127.0.0.1', port, path: `http://127.0.0.1:${outsidePort}/page`, headers: { host: `127.0.0.1:${outsidePort}` }, agent: false }, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => {
              body += c;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          })
          .on('error', reject)
          .end();
      }),
  );
}

test('ALLOW_ANY: a proxied request for a port the mesh does not know is passed through to the address it names', async () => {
  const r = await viaProxy(await sidecar(mesh));
  assert.deepEqual(r, { status: 200, body: 'outside saw /page' });
});

test("REGISTRY_ONLY: the same request is refused with 502, Istio's block_all", async () => {
  const r = await viaProxy(await sidecar(mesh + registryOnly));
  assert.equal(r.status, 502);
});
