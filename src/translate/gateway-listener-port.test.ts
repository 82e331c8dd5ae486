import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { buildProxyResources } from './proxy-resources.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { ingressGatewayView } from '../../test/fixtures/ingress-gateway-view.ts';

const gateway = `
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: { name: gw, namespace: shop }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 80, name: http, protocol: HTTP }
      hosts: ["shop.example.com"]
    - port: { number: 9000, name: http-admin, protocol: HTTP }
      hosts: ["admin.example.com"]
`;

const router = ingressGatewayView;

function listenerNames(yaml: string): string[] {
  const { resources, diagnostics } = loadText(yaml);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const out = buildProxyResources(buildSnapshot(resources, [], '1'), router);
  return [...(out.get(TypeUrl.Listener)?.keys() ?? [])].sort();
}

test("a Gateway's port 80 binds 8080 on the router, as Istio's default ingress gateway Service maps it", () => {
  assert.deepEqual(listenerNames(gateway), ['0.0.0.0_8080', '0.0.0.0_9000']);
});

test("the gateway's own Service decides the target port when the manifests have one", () => {
  const service = `
apiVersion: v1
kind: Service
metadata: { name: istio-ingressgateway, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  ports: [{ name: http2, port: 80, targetPort: 18080 }]
`;
  assert.deepEqual(listenerNames(`${gateway}---${service}`), ['0.0.0.0_18080', '0.0.0.0_9000']);
});

test("meshConfig's gatewayTopology.numTrustedProxies becomes the gateway HCM's trusted XFF hops", () => {
  const op = `
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: mesh, namespace: istio-system }
spec:
  meshConfig:
    defaultConfig:
      gatewayTopology: { numTrustedProxies: 2 }
`;
  const { resources, diagnostics } = loadText(`${gateway}---${op}`);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const out = buildProxyResources(buildSnapshot(resources, [], '1'), router);
  const listener = out.get(TypeUrl.Listener)?.get('0.0.0.0_8080') as unknown as { filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[] };
  const hcm = listener.filter_chains[0]?.filters[0]?.typed_config;
  assert.equal(hcm?.['xff_num_trusted_hops'], 2);
  assert.deepEqual(hcm?.['use_remote_address'], { value: true });
});
