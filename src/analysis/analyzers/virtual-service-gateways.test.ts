// The gateway analyzers find a VirtualService's Gateway by every name form the translator binds
// (Istio's resolveGatewayName): `name`, `./name`, `namespace/name` and the legacy FQDN.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AnyResource } from '../../config/resource.ts';
import { runAnalyzers } from '../run.ts';

function res(kind: string, namespace: string, name: string, spec: unknown): AnyResource {
  return { apiVersion: 'v1', kind, metadata: { name, namespace, labels: {}, annotations: {} }, spec } as AnyResource;
}

const gw = res('Gateway', 'istio-system', 'public', {
  selector: { istio: 'ingressgateway' },
  servers: [{ port: { number: 80, protocol: 'HTTP', name: 'http' }, hosts: ['*/*'] }],
});
const local = res('Gateway', 'shop', 'local', {
  selector: { istio: 'ingressgateway' },
  servers: [{ port: { number: 80, protocol: 'HTTP', name: 'http' }, hosts: ['*/*'] }],
});

const notFound = (gateways: string[]) =>
  runAnalyzers([gw, local, res('VirtualService', 'shop', 'web', { hosts: ['web.example.com'], gateways, http: [{ directResponse: { status: 200 } }] })])
    .filter((d) => d.code === 'IST0101')
    .map((d) => d.message);

test('IST0101: a Gateway named by its legacy FQDN or ./name is found', () => {
  assert.deepEqual(notFound(['public.istio-system.svc.cluster.local', 'public.istio-system', 'istio-system/public', './local', 'local']), []);
  assert.deepEqual(notFound(['public']), ['Referenced gateway not found: "public"']);
});
