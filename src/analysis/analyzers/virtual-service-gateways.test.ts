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

test("IST0132 in Istio's words: hosts as Go prints a list, names as namespace/name", () => {
  const vs = res('VirtualService', 'shop', 'web', { hosts: ['web.example.com', 'www.example.com'], gateways: ['local'], http: [{ directResponse: { status: 200 } }] });
  const narrow = res('Gateway', 'shop', 'local', {
    selector: { istio: 'ingressgateway' },
    servers: [{ port: { number: 80, protocol: 'HTTP', name: 'http' }, hosts: ['other.example.com'] }],
  });
  assert.deepEqual(
    runAnalyzers([narrow, vs]).filter((d) => d.code === 'IST0132').map((d) => d.message),
    ['one or more host [web.example.com www.example.com] defined in VirtualService shop/web not found in Gateway shop/local.'],
  );
});
