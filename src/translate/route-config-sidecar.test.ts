// A sidecar's outbound route configuration as Istio builds it, compiled by the proxy's own route library:
// the port in Host is ignored (buildSidecarOutboundHTTPRouteConfig sets IgnorePortInHostMatching), so a
// Host with another port still takes the service's VirtualService, never the allow_any passthrough.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { routeRequest, shopClientView, translatedRouteConfig } from '../../test/fixtures/sidecar-route-config.ts';
import type { EnvoyRouteConfiguration } from '../proxy/http/route/envoy-types.ts';
import { compileRouteConfiguration } from '../proxy/http/route/index.ts';


const yaml = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { selector: { app: web }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: shop }
spec:
  hosts: [web]
  http:
    - name: block-admin
      match: [{ uri: { prefix: /admin } }]
      directResponse: { status: 403 }
    - name: rest
      route: [{ destination: { host: web } }]
`;

function routeConfig(): EnvoyRouteConfiguration {
  return translatedRouteConfig(yaml, shopClientView, '80');
}

test('the sidecar outbound route configuration ignores the port in host matching, as Istio', () => {
  assert.equal(routeConfig().ignore_port_in_host_matching, true);
});

test('Host web:1234 on the port-80 route configuration takes the VirtualService, not allow_any', () => {
  const table = compileRouteConfiguration(routeConfig());
  for (const authority of ['web', 'web:80', 'web:1234', 'web.shop.svc.cluster.local:1234']) {
    const route = table.match(routeRequest(authority, '/admin'), 0);
    assert.equal(route?.name, 'block-admin', authority);
    assert.equal(route?.virtualHostName, 'web.shop.svc.cluster.local:80', authority);
  }
  assert.equal(table.match(routeRequest('elsewhere.example.com:1234', '/admin'), 0)?.name, 'allow_any');
});
