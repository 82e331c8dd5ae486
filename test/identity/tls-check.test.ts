// tls-check computed offline from YAML: client mode vs server mode and the conflicts between them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeTlsCheck } from '../../src/cli/tls-check.ts';
import { loadText } from '../../src/config/load.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';

const yaml = `apiVersion: v1
kind: Service
metadata: {name: podinfo, namespace: podinfo}
spec: {selector: {app: podinfo}, ports: [{name: http, port: 9898}]}
---
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: podinfo}
spec: {selector: {app: legacy}, ports: [{name: http, port: 8080}]}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: legacy, namespace: podinfo}
spec: {host: legacy.podinfo.svc.cluster.local, trafficPolicy: {tls: {mode: DISABLE}}}
`;

test('auto mTLS against STRICT is fine; DISABLE against STRICT conflicts', () => {
  const rows = computeTlsCheck(buildSnapshot(loadText(yaml).resources, [], '1'));
  const byHost = new Map(rows.map((r) => [r.host, r]));
  assert.deepEqual(
    { client: byHost.get('podinfo.podinfo.svc.cluster.local')?.client, server: byHost.get('podinfo.podinfo.svc.cluster.local')?.server, conflict: byHost.get('podinfo.podinfo.svc.cluster.local')?.conflict },
    { client: 'AUTO', server: 'STRICT', conflict: false },
  );
  const legacy = byHost.get('legacy.podinfo.svc.cluster.local');
  assert.equal(legacy?.client, 'DISABLE');
  assert.equal(legacy?.conflict, true);
  assert.equal(legacy?.authn, 'istio-system/default');
  assert.equal(legacy?.destinationRule, 'legacy/podinfo');
});
