// Every tcp_proxy gets Istio's `istio.stats` network filter in front of it, after network RBAC: on a
// sidecar's inbound TCP ports (reporter destination), its outbound TCP chains and catch-all chain
// (reporter source), and a gateway's TCP routes (reporter source); the access log travels in its config.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { readTypedStruct, type TypedAny } from '../xds/any.ts';
import { OutriggerExtension, TypeUrl } from '../xds/type-urls.ts';
import { buildProxyResources } from './proxy-resources.ts';
import { ingressGatewayView } from '../../test/fixtures/ingress-gateway-view.ts';

const yaml = `
apiVersion: v1
kind: Service
metadata: { name: db, namespace: shop }
spec:
  selector: { app: db }
  ports: [{ name: tcp-db, port: 5432 }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: db-callers, namespace: shop }
spec:
  selector: { matchLabels: { app: db } }
  rules: [{ from: [{ source: { principals: ["cluster.local/ns/shop/sa/cart"] } }] }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: tcp-gw, namespace: shop }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 15432, name: tcp, protocol: TCP }, hosts: ["*"] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: db, namespace: shop }
spec:
  hosts: ["*"]
  gateways: [tcp-gw]
  tcp: [{ route: [{ destination: { host: db.shop.svc.cluster.local, port: { number: 5432 } } }] }]
---
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: mesh, namespace: istio-system }
spec:
  meshConfig: { accessLogFile: /dev/stdout }
`;

const sidecar = (name: string): ProxyView =>
  ({ id: `sidecar~127.0.0.1~${name}-0.shop~shop.svc.cluster.local`, role: 'sidecar', namespace: 'shop', workloadName: name, serviceAccount: name, labels: { app: name }, ip: '127.0.0.1', appPorts: {} }) as ProxyView;
const router = ingressGatewayView;

interface Chain {
  name?: string;
  filters: { name: string; typed_config: TypedAny }[];
}

function chains(proxy: ProxyView, listener: string): Chain[] {
  const snapshot = buildSnapshot(loadText(yaml).resources, [], '1');
  const l = buildProxyResources(snapshot, proxy).get(TypeUrl.Listener)?.get(listener) as { filter_chains: Chain[]; default_filter_chain?: Chain } | undefined;
  assert.ok(l, `${listener} translated`);
  return [...l.filter_chains, ...(l.default_filter_chain ? [l.default_filter_chain] : [])];
}

const names = (c: Chain | undefined) => c?.filters.map((f) => f.name);
const stats = (c: Chain | undefined) => readTypedStruct(c?.filters.find((f) => f.name === 'istio.stats')?.typed_config, OutriggerExtension.Telemetry);

test("an inbound TCP port: network RBAC, then istio.stats reporting as the destination, then tcp_proxy", () => {
  const chain = chains(sidecar('db'), 'virtualInbound').find((c) => c.name === 'inbound|5432||');
  assert.deepEqual(names(chain), ['envoy.filters.network.rbac', 'istio.stats', 'envoy.filters.network.tcp_proxy']);
  assert.equal(stats(chain)['reporter'], 'destination');
  assert.deepEqual(stats(chain)['access_log'], { path: '/dev/stdout', encoding: 'TEXT' });
});

test('outbound TCP chains and the catch-all chain report as the source; no network RBAC outbound', () => {
  const all = chains(sidecar('cart'), 'virtualOutbound');
  const db = all.find((c) => c.name === 'outbound|5432||db.shop.svc.cluster.local');
  const passthrough = all.find((c) => c.name === 'PassthroughCluster');
  for (const c of [db, passthrough]) {
    assert.deepEqual(names(c), ['istio.stats', 'envoy.filters.network.tcp_proxy']);
    assert.equal(stats(c)['reporter'], 'source');
  }
});

test("a gateway's TCP route reports as the source", () => {
  const [chain] = chains(router, '0.0.0.0_15432');
  assert.deepEqual(names(chain), ['istio.stats', 'envoy.filters.network.tcp_proxy']);
  assert.equal(stats(chain)['reporter'], 'source');
});
