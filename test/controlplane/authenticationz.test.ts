// The control plane's /debug/authenticationz over a real socket, for a connected proxy: the
// PeerAuthentication that decides its workload's mTLS mode, and a port's (live `explain` names it).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { type DebugApi, startDebugApi } from '../../src/controlplane/debug-api.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient, sidecarNode } from './raw-ads-client.ts';

const policies = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: shop-wide, namespace: shop}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: cart-metrics, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  mtls: {mode: STRICT}
  portLevelMtls: {"9090": {mode: DISABLE}}
`;

let dir: string;
let cp: ControlPlane;
let debug: DebugApi;
const clients: RawAdsClient[] = [];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'or-authnz-'));
  await writeFile(path.join(dir, 'pa.yaml'), policies);
  cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, log: () => {} });
  debug = await startDebugApi(cp, '127.0.0.1:0');
  for (const [ns, pod, workload] of [
    ['shop', 'cart-0', 'cart'],
    ['shop', 'orders-0', 'orders'],
    ['other', 'web-0', 'web'],
  ] as const) {
    const c = new RawAdsClient(cp.xdsAddress, sidecarNode(ns, pod, 'default', workload));
    c.subscribe(TypeUrl.Cluster);
    await c.next();
    clients.push(c);
  }
});

after(async () => {
  for (const c of clients) c.close();
  await debug.close();
  await cp.close();
  await rm(dir, { recursive: true });
});

async function get(query: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://${debug.address}/debug/authenticationz?${query}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('authenticationz names the PeerAuthentication deciding a proxy workload and port, at each level', async () => {
  assert.deepEqual((await get('proxyID=cart-0.shop')).body, { mode: 'STRICT', decidedBy: 'PeerAuthentication shop/cart-metrics', level: 'workload' });
  assert.deepEqual((await get('proxyID=cart-0.shop&port=9090')).body, { mode: 'DISABLE', decidedBy: 'PeerAuthentication shop/cart-metrics', level: 'port' });
  assert.deepEqual((await get('proxyID=cart-0.shop&port=8080')).body, { mode: 'STRICT', decidedBy: 'PeerAuthentication shop/cart-metrics', level: 'workload' });
  assert.deepEqual((await get('proxyID=orders-0.shop&port=9090')).body, { mode: 'PERMISSIVE', decidedBy: 'PeerAuthentication shop/shop-wide', level: 'namespace' });
  assert.deepEqual((await get('proxyID=web-0.other&port=80')).body, { mode: 'STRICT', decidedBy: 'PeerAuthentication istio-system/default', level: 'mesh' });
});

test('authenticationz: an unknown proxy is 404 naming the known ones; a bad port is 400', async () => {
  const unknown = await get('proxyID=nobody-0.shop');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body['error'], 'no connected proxy matches "nobody-0.shop"; known: cart-0.shop, orders-0.shop, web-0.other');
  const bad = await get('proxyID=cart-0.shop&port=http');
  assert.equal(bad.status, 400);
  assert.equal(bad.body['error'], 'port must be a port number, not "http"');
});
