// The SNI of mesh mTLS, as Istio's sidecars send it (pilot's BuildDNSSrvSubsetKey): an ISTIO_MUTUAL
// transport socket, auto mTLS or explicit, names `outbound_.PORT_.SUBSET_.HOST`, not the cluster's
// pipe-separated name; a rule's own `sni` wins on an explicit ISTIO_MUTUAL.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { autoMtlsTransport } from './auto-mtls.ts';
import type { ClusterTransport } from './options.ts';
import { buildProxyResources } from './proxy-resources.ts';

const yaml = `apiVersion: v1
kind: Service
metadata: {name: podinfo, namespace: test}
spec: {selector: {app: podinfo}, ports: [{name: http, port: 9898}, {name: tcp-db, port: 5432}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: podinfo, namespace: test}
spec:
  host: podinfo.test.svc.cluster.local
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}, trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}}
    - {name: v3, labels: {version: v3}, trafficPolicy: {tls: {mode: ISTIO_MUTUAL, sni: custom.example.com}}}
`;
const snapshot = buildSnapshot(
  loadText(yaml).resources,
  [{ name: 'podinfo-0', namespace: 'test', labels: { app: 'podinfo', version: 'v1' }, serviceAccount: 'podinfo', address: '127.0.0.1', appPorts: {}, tunnelAddress: '127.0.0.1:15008', healthy: true, source: 'deployment' }],
  '1',
);
const proxy = { id: 'sidecar~127.0.0.1~cart-0.test~test.svc.cluster.local', role: 'sidecar', namespace: 'test', workloadName: 'cart', serviceAccount: 'cart', labels: { app: 'cart' }, ip: '127.0.0.1', appPorts: {} } as ProxyView;

/** The mesh TLS context's SNI of a transport: the explicit socket's, or the `tlsMode-istio` match's. */
function sniOf(t: ClusterTransport): string | undefined {
  const socket = t.transport_socket ?? t.transport_socket_matches?.find((m) => m.name === 'tlsMode-istio')?.transport_socket;
  return (socket?.typed_config as { sni?: string } | undefined)?.sni;
}

const expected: Record<string, string> = {
  'outbound|9898||podinfo.test.svc.cluster.local': 'outbound_.9898_._.podinfo.test.svc.cluster.local',
  'outbound|9898|v1|podinfo.test.svc.cluster.local': 'outbound_.9898_.v1_.podinfo.test.svc.cluster.local',
  'outbound|9898|v2|podinfo.test.svc.cluster.local': 'outbound_.9898_.v2_.podinfo.test.svc.cluster.local',
  'outbound|9898|v3|podinfo.test.svc.cluster.local': 'custom.example.com',
  'outbound|5432||podinfo.test.svc.cluster.local': 'outbound_.5432_._.podinfo.test.svc.cluster.local',
  'outbound|5432|v1|podinfo.test.svc.cluster.local': 'outbound_.5432_.v1_.podinfo.test.svc.cluster.local',
};

test('translation: mesh mTLS names outbound_.PORT_.SUBSET_.HOST, auto or explicit; a rule’s own sni wins', () => {
  const clusters = buildProxyResources(snapshot, proxy).get(TypeUrl.Cluster)!;
  for (const [name, sni] of Object.entries(expected)) {
    const c = clusters.get(name) as ClusterTransport | undefined;
    assert.ok(c, name);
    assert.equal(sniOf(c), sni, name);
  }
});

test('the auto mTLS builder names the same SNI', () => {
  const service = snapshot.services[0]!;
  const at = (port: number, subset: string, tls?: { mode: 'ISTIO_MUTUAL'; sni?: string }) =>
    sniOf(autoMtlsTransport(snapshot, proxy, { service, port, subset, tls, clusterName: `outbound|${port}|${subset}|${service.hostname}` }));
  assert.equal(at(9898, ''), 'outbound_.9898_._.podinfo.test.svc.cluster.local');
  assert.equal(at(9898, 'v1', { mode: 'ISTIO_MUTUAL' }), 'outbound_.9898_.v1_.podinfo.test.svc.cluster.local');
  assert.equal(at(9898, 'v3', { mode: 'ISTIO_MUTUAL', sni: 'custom.example.com' }), 'custom.example.com');
});
