import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import type { WorkloadIdentity } from './bootstrap-tokens.ts';
import { declaredWorkloads, WorkloadRegistry } from './registry.ts';

const manifests = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: podinfo-stable, namespace: podinfo}
spec:
  replicas: 2
  selector: {matchLabels: {app: podinfo}}
  template:
    metadata: {labels: {app: podinfo, version: stable}}
    spec:
      serviceAccountName: podinfo
      containers: [{name: podinfo, image: ghcr.io/stefanprodan/podinfo, ports: [{containerPort: 9898}]}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: podinfo}
spec: {address: 10.0.0.9, ports: {http: 8080}, labels: {app: legacy}, serviceAccount: legacy}
`;

const view = (over: Partial<ProxyView> = {}): ProxyView => ({
  id: 'sidecar~127.0.0.1~podinfo-stable-0.podinfo~podinfo.svc.cluster.local',
  role: 'sidecar',
  namespace: 'podinfo',
  workloadName: 'podinfo-stable',
  serviceAccount: 'podinfo',
  labels: { app: 'podinfo', version: 'stable' },
  ip: '127.0.0.1',
  appPorts: { 9898: 41000 },
  tunnelAddress: '127.0.0.1:41002',
  ...over,
});
const podinfo: WorkloadIdentity = { namespace: 'podinfo', serviceAccount: 'podinfo', workload: 'podinfo-stable' };

test('Deployments become replicas and WorkloadEntries become instances', () => {
  const { resources, diagnostics } = loadText(manifests, 'm.yaml');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const ws = declaredWorkloads(resources);
  assert.deepEqual(ws.map((w) => `${w.namespace}/${w.name}:${w.serviceAccount}:${w.healthy}`), [
    'podinfo/podinfo-stable-0:podinfo:false',
    'podinfo/podinfo-stable-1:podinfo:false',
    'podinfo/vm-1:legacy:true',
  ]);
  assert.deepEqual(ws[0]?.labels, { app: 'podinfo', version: 'stable' });
  assert.deepEqual(ws[2]?.appPorts, { 8080: 8080 });
});

test('a connected proxy makes its instance healthy with its addresses; disconnecting undoes it', () => {
  const reg = new WorkloadRegistry();
  reg.setDeclared(declaredWorkloads(loadText(manifests, 'm.yaml').resources));
  reg.register({ name: 'podinfo-stable-0', namespace: 'podinfo', labels: { app: 'podinfo', version: 'stable' }, serviceAccount: 'podinfo', address: '127.0.0.1', appPorts: { 9898: 41000 }, tunnelAddress: '127.0.0.1:41002', healthy: true, source: 'deployment' });
  const find = () => reg.instances().find((i) => i.name === 'podinfo-stable-0');
  assert.equal(find()?.healthy, false, 'expects a sidecar that is not connected');
  assert.equal(reg.proxyConnected('s1', 'podinfo-stable-0', view(), podinfo), true);
  assert.equal(reg.proxyConnected('s2', 'podinfo-stable-0', view({ labels: { app: 'pay', version: 'stable' } }), podinfo), false, 'second stream of the same proxy');
  assert.deepEqual({ ...find() }, {
    name: 'podinfo-stable-0', namespace: 'podinfo', labels: { app: 'podinfo', version: 'stable' }, serviceAccount: 'podinfo', workload: 'podinfo-stable',
    address: '127.0.0.1', appPorts: { 9898: 41000 }, healthy: true, source: 'deployment', tunnelAddress: '127.0.0.1:41002',
  }, "the labels are the config's: the last stream's app: pay (another service's) is not taken");
  assert.equal(reg.proxyDisconnected('s1', 'podinfo-stable-0', 'podinfo'), false);
  assert.equal(reg.proxyDisconnected('s2', 'podinfo-stable-0', 'podinfo'), true);
  assert.equal(find()?.healthy, false);
  assert.equal(reg.unregister('podinfo', 'podinfo-stable-0'), true);
  assert.equal(find()?.source, 'deployment');
});

test('a proxy with no declaration is registered from its node alone', () => {
  const reg = new WorkloadRegistry();
  // The node says service account `root`; the token, which the registry goes by, says `adhoc`.
  reg.proxyConnected('s1', 'adhoc-0', view({ namespace: 'x', labels: { app: 'adhoc' }, serviceAccount: 'root' }), { namespace: 'x', serviceAccount: 'adhoc', workload: 'adhoc' });
  assert.deepEqual(reg.instances().map((i) => `${i.namespace}/${i.name}:${i.source}:${i.healthy}:${i.serviceAccount}`), ['x/adhoc-0:proxy:true:adhoc']);
});

test('a proxy speaks only for instances of its own identity', () => {
  const reg = new WorkloadRegistry();
  reg.setDeclared(declaredWorkloads(loadText(manifests, 'm.yaml').resources));
  const cart: WorkloadIdentity = { namespace: 'podinfo', serviceAccount: 'cart', workload: 'cart' };
  const otherWorkload: WorkloadIdentity = { namespace: 'podinfo', serviceAccount: 'podinfo', workload: 'podinfo-canary' };
  assert.equal(reg.refusal('podinfo', 'podinfo-stable-0', podinfo), undefined);
  assert.equal(reg.refusal('podinfo', 'podinfo-stable-0', cart), 'pod podinfo/podinfo-stable-0 is declared for service account podinfo (workload podinfo-stable); the token is for podinfo/cart (workload cart)');
  assert.match(reg.refusal('podinfo', 'podinfo-stable-0', otherWorkload) ?? '', /workload podinfo-canary/);
  // A WorkloadEntry names no workload: its namespace and service account decide, as in istiod.
  assert.equal(reg.refusal('podinfo', 'vm-1', { namespace: 'podinfo', serviceAccount: 'legacy', workload: 'vm' }), undefined);
  assert.match(reg.refusal('podinfo', 'vm-1', cart) ?? '', /service account legacy/);
  // An undeclared pod belongs to the identity whose proxy announces it, while it is connected.
  assert.equal(reg.proxyConnected('s1', 'adhoc-0', view({ labels: { app: 'adhoc' } }), cart), true);
  assert.match(reg.refusal('podinfo', 'adhoc-0', podinfo) ?? '', /announced by a proxy of service account cart/);
  assert.equal(reg.proxyDisconnected('s1', 'adhoc-0', 'podinfo'), true);
  assert.equal(reg.refusal('podinfo', 'adhoc-0', podinfo), undefined);
});

test('config that declares a connected proxy\'s pod for another identity replaces its announcement', () => {
  const reg = new WorkloadRegistry();
  const cart: WorkloadIdentity = { namespace: 'podinfo', serviceAccount: 'cart', workload: 'cart' };
  reg.proxyConnected('s1', 'podinfo-stable-0', view({ labels: { app: 'podinfo' }, tunnelAddress: '10.6.6.6:15008' }), cart);
  assert.equal(reg.instances()[0]?.serviceAccount, 'cart');
  reg.setDeclared(declaredWorkloads(loadText(manifests, 'm.yaml').resources));
  const pod = reg.instances().find((i) => i.name === 'podinfo-stable-0');
  assert.deepEqual({ ...pod }, {
    name: 'podinfo-stable-0', namespace: 'podinfo', labels: { app: 'podinfo', version: 'stable' }, serviceAccount: 'podinfo', workload: 'podinfo-stable',
    address: '127.0.0.1', appPorts: { 9898: 9898 }, healthy: false, source: 'deployment',
  });
});

test("a pod the runtime runs is ready when the runtime says its app listens, not when its sidecar connects; a remote proxy's pod when it connects", () => {
  const reg = new WorkloadRegistry();
  reg.setDeclared(declaredWorkloads(loadText(manifests, 'm.yaml').resources));
  const pod = { name: 'podinfo-stable-0', namespace: 'podinfo', labels: { app: 'podinfo', version: 'stable' }, serviceAccount: 'podinfo', address: '127.0.0.1', appPorts: { 9898: 41000 }, tunnelAddress: '127.0.0.1:41002', source: 'deployment' } as const;
  const health = (name: string) => reg.instances().find((i) => i.name === name)?.healthy;
  reg.register({ ...pod, healthy: false });
  reg.proxyConnected('s1', 'podinfo-stable-0', view(), podinfo);
  assert.equal(health('podinfo-stable-0'), false, 'sidecar connected, app not listening yet');
  reg.register({ ...pod, healthy: true });
  assert.equal(health('podinfo-stable-0'), true);
  reg.register({ ...pod, healthy: false });
  assert.equal(health('podinfo-stable-0'), false, 'its app exited');
  // No runtime registers podinfo-stable-1: its proxy joined from elsewhere, and its connection is its readiness.
  reg.proxyConnected('s2', 'podinfo-stable-1', view({ id: 'sidecar~10.0.0.7~podinfo-stable-1.podinfo~podinfo.svc.cluster.local', ip: '10.0.0.7' }), podinfo);
  assert.equal(health('podinfo-stable-1'), true);
});
