// A proxy speaks only for pods of its own verified identity (istiod's ensureProxyCanControlEntry): a token
// for `cart` that claims the declared pod `pay-0` with pay's labels and its own tunnel is refused, so it
// never becomes pay's endpoint nor widens pay's secure naming to cart's certificate, then or later.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import { unpackAny } from '../../src/xds/any.ts';
import type { DiscoveryResponse } from '../../src/xds/ads-client.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import type { RawNode } from './raw-ads-client.ts';
import { RawAdsClient, sidecarNode } from './raw-ads-client.ts';

const deployment = (name: string, port: number) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: shop}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      serviceAccountName: ${name}
      containers: [{name: ${name}, image: x, ports: [{containerPort: ${port}}]}]
`;
const config = [
  'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio-injection: enabled}}\n',
  'apiVersion: v1\nkind: Service\nmetadata: {name: pay, namespace: shop}\nspec: {selector: {app: pay}, ports: [{name: http, port: 80, targetPort: 8080}]}\n',
  deployment('pay', 8080),
  deployment('cart', 9090),
  deployment('web', 7070),
].join('---\n');

const payCluster = 'outbound|80||pay.shop.svc.cluster.local';
let dir: string;
let cp: ControlPlane;
const logs: string[] = [];
const logged = new EventEmitter();

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'or-pod-claims-'));
  await writeFile(path.join(dir, 'shop.yaml'), config);
  const ca = await CertificateAuthority.ephemeral();
  cp = await ControlPlane.start({
    configPaths: [dir],
    xdsAddress: '127.0.0.1:0',
    rescanMs: 0,
    ca,
    log: (_l, m) => {
      logs.push(m);
      logged.emit('line', m);
    },
  });
});
after(async () => {
  await cp.close();
  await rm(dir, { recursive: true });
});

const token = (sa: string, workload = sa) => cp.issueBootstrapToken({ namespace: 'shop', serviceAccount: sa, workload });
const pod = (name: string): WorkloadInstance | undefined => cp.snapshot.workloads.find((w) => w.name === name);
const declaredPay0 = { name: 'pay-0', namespace: 'shop', labels: { app: 'pay' }, serviceAccount: 'pay', workload: 'pay', address: '127.0.0.1', appPorts: { 8080: 8080 }, healthy: false, source: 'deployment' };

/** Resolves once the control plane has logged a line (from now on) that `match` accepts. */
async function whenLogged(match: (line: string) => boolean): Promise<void> {
  for (;;) {
    const [line] = (await once(logged, 'line')) as [string];
    if (match(line)) return;
  }
}

/** A stream the control plane accepted: it answered the first request. */
async function connected(node: RawNode, tok: string): Promise<RawAdsClient> {
  const c = new RawAdsClient(cp.xdsAddress, node, tok);
  c.subscribe(TypeUrl.Listener);
  await c.next();
  return c;
}

/** How the control plane ended a stream it refused; fails when it accepted the stream instead. */
async function refused(node: RawNode, tok: string): Promise<grpc.StatusObject> {
  const c = new RawAdsClient(cp.xdsAddress, node, tok);
  try {
    c.subscribe(TypeUrl.Listener);
    const first = await Promise.race([c.status, c.next().then(() => undefined)]);
    assert.ok(first, 'the control plane accepted the stream and answered it');
    return first;
  } finally {
    c.close();
  }
}

async function closeAndWait(c: RawAdsClient): Promise<void> {
  const gone = whenLogged((l) => l.startsWith('disconnected '));
  c.close();
  await gone;
  cp.flush();
}

async function nextOf(c: RawAdsClient, typeUrl: string): Promise<DiscoveryResponse> {
  for (;;) {
    const r = await c.next();
    if (r.type_url === typeUrl) return r;
  }
}

/** What `web` is sent for pay: the cluster's secure-naming SANs and the endpoints' addresses. */
async function payAsWebSeesIt(): Promise<{ sans: string[]; endpoints: string }> {
  cp.flush();
  const web = new RawAdsClient(cp.xdsAddress, sidecarNode('shop', 'web-0', 'web', 'web'), token('web'));
  try {
    web.subscribe(TypeUrl.Cluster);
    const cluster = (await nextOf(web, TypeUrl.Cluster)).resources.map(unpackAny).find((x) => x['name'] === payCluster);
    assert.ok(cluster, 'web has a pay cluster');
    web.subscribe(TypeUrl.ClusterLoadAssignment, [payCluster]);
    const eds = await nextOf(web, TypeUrl.ClusterLoadAssignment);
    return { sans: JSON.stringify(cluster).match(/spiffe:[^"]+/g) ?? [], endpoints: JSON.stringify(eds.resources.map(unpackAny)) };
  } finally {
    web.close();
  }
}

/** `cart`'s token, claiming pod pay-0 with pay's labels, its own address and its own tunnel. */
const hijacker: RawNode = {
  id: 'sidecar~10.66.66.66~pay-0.shop~shop.svc.cluster.local',
  metadata: { NAMESPACE: 'shop', SERVICE_ACCOUNT: 'cart', WORKLOAD_NAME: 'cart', LABELS: { app: 'pay' }, OUTRIGGER_TUNNEL_ADDRESS: '10.66.66.66:15008', OUTRIGGER_APP_PORTS: { 8080: 8080 } },
};

test("a proxy claiming a declared pod of another service account is refused, and pay's endpoints and secure naming stay pay's", async () => {
  const status = await refused(hijacker, token('cart'));
  assert.equal(status.code, grpc.status.PERMISSION_DENIED);
  assert.equal(status.details, 'pod shop/pay-0 is declared for service account pay (workload pay); the token is for shop/cart (workload cart)');
  assert.ok(logs.some((l) => l.includes('NOT_YOUR_WORKLOAD pod shop/pay-0 is declared for service account pay')));
  cp.flush();
  assert.deepEqual({ ...pod('pay-0') }, declaredPay0);
  const pay = await payAsWebSeesIt();
  assert.deepEqual(pay.sans, ['spiffe://cluster.local/ns/shop/sa/pay']);
  assert.ok(!pay.endpoints.includes('10.66.66.66'), pay.endpoints);
});

test('the same service account with another workload is refused too', async () => {
  const status = await refused(sidecarNode('shop', 'pay-0', 'pay', 'pay-batch'), token('pay', 'pay-batch'));
  assert.equal(status.code, grpc.status.PERMISSION_DENIED);
  assert.equal(status.details, 'pod shop/pay-0 is declared for service account pay (workload pay); the token is for shop/pay (workload pay-batch)');
});

test("pay-0's own proxy keeps its instance while a hijacker is refused, and after both leave it is the declared one", async () => {
  const real = await connected(sidecarNode('shop', 'pay-0', 'pay', 'pay', { LABELS: { app: 'pay' }, OUTRIGGER_TUNNEL_ADDRESS: '127.0.0.1:40001' }), token('pay'));
  cp.flush();
  assert.equal(pod('pay-0')?.tunnelAddress, '127.0.0.1:40001');
  assert.equal((await refused(hijacker, token('cart'))).code, grpc.status.PERMISSION_DENIED);
  // Any later rebuild (here another proxy connecting) reads the registry again.
  const web = await connected(sidecarNode('shop', 'web-0', 'web', 'web'), token('web'));
  cp.flush();
  assert.deepEqual([pod('pay-0')?.serviceAccount, pod('pay-0')?.tunnelAddress, pod('pay-0')?.address, pod('pay-0')?.healthy], ['pay', '127.0.0.1:40001', '127.0.0.1', true]);
  await closeAndWait(real);
  await closeAndWait(web);
  assert.deepEqual({ ...pod('pay-0') }, declaredPay0);
  const pay = await payAsWebSeesIt();
  assert.deepEqual(pay.sans, ['spiffe://cluster.local/ns/shop/sa/pay']);
  assert.ok(!pay.endpoints.includes('10.66.66.66') && !pay.endpoints.includes('40001'), pay.endpoints);
});

test("a proxy joined from another host announces an undeclared pod under its verified identity and its workload's labels, which no other identity may take", async () => {
  const node = sidecarNode('shop', 'cart-remote-1', 'cart', 'cart', { LABELS: { app: 'cart', site: 'far' }, INSTANCE_IPS: '192.0.2.7', OUTRIGGER_TUNNEL_ADDRESS: '192.0.2.7:15008' });
  node.id = 'sidecar~192.0.2.7~cart-remote-1.shop~shop.svc.cluster.local';
  const remote = await connected(node, token('cart'));
  cp.flush();
  assert.deepEqual({ ...pod('cart-remote-1') }, {
    // The labels are the declared cart Deployment's template's: its own `site: far` is a claim, not config.
    name: 'cart-remote-1', namespace: 'shop', labels: { app: 'cart' }, serviceAccount: 'cart', workload: 'cart',
    address: '192.0.2.7', appPorts: {}, healthy: true, source: 'proxy', tunnelAddress: '192.0.2.7:15008',
  });
  const status = await refused({ ...node, metadata: { ...node.metadata, SERVICE_ACCOUNT: 'web', WORKLOAD_NAME: 'web', OUTRIGGER_TUNNEL_ADDRESS: '10.66.66.66:15008' } }, token('web'));
  assert.equal(status.code, grpc.status.PERMISSION_DENIED);
  assert.match(status.details, /pod shop\/cart-remote-1 is announced by a proxy of service account cart/);
  cp.flush();
  assert.equal(pod('cart-remote-1')?.tunnelAddress, '192.0.2.7:15008');
  await closeAndWait(remote);
  assert.equal(pod('cart-remote-1'), undefined, 'an undeclared pod goes with its proxy');
});

test("a proxy's own labels never put it behind another service: cart's pods, declared or not, announcing app: pay stay cart's", async () => {
  const asPay = { LABELS: { app: 'pay' }, OUTRIGGER_TUNNEL_ADDRESS: '10.66.66.77:15008', OUTRIGGER_APP_PORTS: { 8080: 8080 } };
  // A declared replica of cart, and a pod no config names, both with cart's token and pay's labels.
  const declared = await connected(sidecarNode('shop', 'cart-0', 'cart', 'cart', asPay), token('cart'));
  const undeclared = await connected(sidecarNode('shop', 'cart-extra-9', 'cart', 'cart', asPay), token('cart'));
  cp.flush();
  assert.deepEqual(pod('cart-0')?.labels, { app: 'cart' });
  assert.deepEqual(pod('cart-extra-9')?.labels, { app: 'cart' }, "a pod no config names takes its workload's template labels");
  const pay = await payAsWebSeesIt();
  assert.deepEqual(pay.sans, ['spiffe://cluster.local/ns/shop/sa/pay'], "secure naming for pay never accepts cart's certificate");
  assert.ok(!pay.endpoints.includes('10.66.66.77'), pay.endpoints);
  await closeAndWait(declared);
  await closeAndWait(undeclared);
});
