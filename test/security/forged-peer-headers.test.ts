// Mesh headers come only from mesh proxies. A server outside the mesh that answers with
// `x-outrigger-peer` is not believed (it would name itself any workload in the source's metrics), and
// a malformed value never reaches the metrics' label escaping (a label that is not a string threw
// there and took the proxy down). A client of a MUTUAL gateway whose certificate, from the gateway's
// own CA, carries a SPIFFE ID is still no mesh peer: its x-envoy-* and x-istio-* headers are dropped.
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from '../proxy/certs.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';

const forged = (labels: unknown) => Buffer.from(JSON.stringify({ workload: 'payments', namespace: 'prod', principal: 'spiffe://cluster.local/ns/prod/sa/payments', labels })).toString('base64');
let labels: unknown = { app: 'payments', version: 'v9' };
let ext: http.Server;
let sidecar: Awaited<ReturnType<typeof startProxy>>;
let gateway: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
let ca: Awaited<ReturnType<typeof makeCa>>;

before(async () => {
  ext = http.createServer((_req, res) => {
    res.setHeader('x-outrigger-peer', forged(labels));
    res.end('hi');
  });
  await new Promise<void>((r) => ext.listen(0, '127.0.0.1', r));
  const yaml = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: shop}
spec:
  hosts: [ext.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  location: MESH_EXTERNAL
  endpoints: [{address: 127.0.0.1, ports: {http: ${(ext.address() as net.AddressInfo).port}}}]
`;
  const view: ProxyView = { id: 'sidecar~127.0.0.1~cart-0.shop~shop.svc.cluster.local', role: 'sidecar', namespace: 'shop', workloadName: 'cart', serviceAccount: 'cart', labels: { app: 'cart' }, ip: '127.0.0.1', appPorts: {} };
  sidecar = await startProxy({ nodeId: view.id, metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'cart', LABELS: { app: 'cart' } } });
  push(sidecar.proxy, [...buildProxyResources(buildSnapshot(loadText(yaml).resources, [], '1'), view).values()].flatMap((m) => [...m.values()]));

  ca = await makeCa('gateway-own-ca');
  const server = await ca.issueWithSans([{ type: 'dns', value: 'm.example.com' }]);
  backend = await echoBackend();
  gateway = await startProxy({ role: 'router' });
  const sds = (name: string) => ({ name, sds_config: { ads: {} } });
  const mutual = { '@type': TypeUrl.DownstreamTlsContext, require_client_certificate: { value: true }, common_tls_context: { tls_certificate_sds_secret_configs: [sds('m-cert')], combined_validation_context: { default_validation_context: {}, validation_context_sds_secret_config: sds('m-cert-cacert') } } };
  push(gateway.proxy, [
    cluster('b'),
    cla('b', [{ port: backend.port }]),
    listener('gw', 8443, [{ filter: hcm('r', { use_remote_address: { value: true } }), tls: mutual }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'b', timeout: { seconds: '0' } }] }]),
    { '@type': TypeUrl.Secret, name: 'm-cert', tls_certificate: { certificate_chain: { inline_string: server.cert }, private_key: { inline_string: server.key } } },
    { '@type': TypeUrl.Secret, name: 'm-cert-cacert', validation_context: { trusted_ca: { inline_string: ca.ca } } },
  ]);
});

after(async () => {
  await sidecar.close();
  await gateway.close();
  ext.close();
  backend.server.closeAllConnections();
  backend.server.close();
});

async function callExternal(): Promise<{ status: number; leaked: boolean }> {
  const port = await sidecar.port('virtualOutbound');
  return new Promise((resolve, reject) => {
    http
      .request({ host: '127.0.0.1', port, path: 'http://ext.example.com/', headers: { host: 'ext.example.com' }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, leaked: res.headers['x-outrigger-peer'] !== undefined }));
      })
      .on('error', reject)
      .end();
  });
}

test("a server outside the mesh cannot name itself in the source's metrics, and a malformed label cannot crash the proxy", async () => {
  assert.deepEqual(await callExternal(), { status: 200, leaked: false });
  const series = (await request(sidecar.metricsPort, '/stats/prometheus')).body.split('\n').find((l) => l.startsWith('istio_requests_total{'));
  assert.ok(series);
  assert.match(series, /destination_workload="unknown"/);
  assert.match(series, /destination_principal="unknown"/);
  assert.doesNotMatch(series, /payments|v9/);
  labels = { app: { x: 1 }, version: ['v9'] };
  assert.deepEqual(await callExternal(), { status: 200, leaked: false });
  assert.equal((await request(sidecar.metricsPort, '/stats/prometheus')).status, 200);
});

test("a MUTUAL gateway's client with a SPIFFE ID from the gateway's own CA is not a mesh peer: its mesh headers are dropped", async () => {
  const client = await ca.issue('spiffe://client.example/ns/x/sa/y');
  const port = await gateway.port('gw');
  const headers = await new Promise<Record<string, string>>((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, servername: 'm.example.com', ca: ca.ca, agent: false, ...client, headers: { host: 'm.example.com', 'x-envoy-decorator-operation': 'FORGED', 'x-istio-attributes': 'FORGED', 'x-outrigger-peer': 'FORGED' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c;
        });
        res.on('end', () => resolve((JSON.parse(body) as { headers: Record<string, string> }).headers));
      })
      .on('error', reject);
  });
  assert.equal(headers['x-envoy-decorator-operation'], undefined);
  assert.equal(headers['x-istio-attributes'], undefined);
  assert.equal(headers['x-outrigger-peer'], undefined);
});
