// Finding a proxy by name for the debug API, and the error when none or several match.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AdsConnection } from '../xds/ads-connection.ts';
import { findConnection, proxyMatchError } from './sync-report.ts';

const conn = (podName: string, namespace: string) => ({ node: { podName, view: { id: `sidecar~10.0.0.1~${podName}.${namespace}~${namespace}.svc.cluster.local`, namespace } } }) as unknown as AdsConnection;
const conns = [conn('podinfo-stable-0', 'podinfo'), conn('podinfo-canary-0', 'podinfo'), conn('mesh-test-runner-0', 'istio-system')];

test('a prefix naming one proxy finds it; an ambiguous prefix says which proxies it matches', () => {
  assert.equal(findConnection(conns, 'podinfo-stable')?.node.podName, 'podinfo-stable-0');
  assert.equal(findConnection(conns, 'podinfo'), undefined);
  assert.equal(proxyMatchError(conns, 'podinfo'), '"podinfo" matches more than one proxy: podinfo-canary-0.podinfo, podinfo-stable-0.podinfo; name one (pod.namespace)');
  assert.equal(proxyMatchError(conns, 'nosuch'), 'no connected proxy matches "nosuch"; known: mesh-test-runner-0.istio-system, podinfo-canary-0.podinfo, podinfo-stable-0.podinfo');
});
