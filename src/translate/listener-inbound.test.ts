// The inbound route of a sidecar's HTTP ports, as Istio's BuildDefaultHTTPInboundRoute (1.24+, with
// ENABLE_INBOUND_RETRY_POLICY on by default): no timeout, max_stream_duration 0 with the grpc-timeout
// header unbounded, and two retries of a request reset before it reached the app, except on gRPC ports.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { buildProxyResources } from './proxy-resources.ts';

const api: ProxyView = {
  id: 'sidecar~127.0.0.1~api-0.shop~shop.svc.cluster.local',
  role: 'sidecar',
  namespace: 'shop',
  workloadName: 'api',
  serviceAccount: 'api',
  labels: { app: 'api' },
  ip: '127.0.0.1',
  appPorts: {},
};

const service = `
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec:
  selector: { app: api }
  ports:
    - { name: http, port: 80, targetPort: 8080 }
    - { name: grpc, port: 90, targetPort: 9090 }
    - { name: web, port: 70, targetPort: 7070 }
`;

type Route = { name?: string; route?: Record<string, unknown> };

/** The one route of each inbound HTTP chain, by the chain's name. */
function inboundRoutes(yaml = service): Map<string, Route> {
  const { resources, diagnostics } = loadText(yaml, 'input.yaml');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const out = buildProxyResources(buildSnapshot(resources, [], '1'), api);
  const inbound = out.get(TypeUrl.Listener)?.get('virtualInbound') as unknown as { filter_chains: { name: string; filters: { typed_config: Record<string, unknown> }[] }[] };
  const routes = new Map<string, Route>();
  for (const chain of inbound.filter_chains) {
    const rc = chain.filters[0]?.typed_config['route_config'] as { virtual_hosts: { routes: Route[] }[] } | undefined;
    if (rc && !routes.has(chain.name)) routes.set(chain.name, rc.virtual_hosts[0]?.routes[0] as Route);
  }
  return routes;
}

test('inbound HTTP routes retry a request reset before it was sent, twice; gRPC ones do not retry', () => {
  const routes = inboundRoutes();
  const noLimits = { max_stream_duration: { seconds: 0 }, grpc_timeout_header_max: { seconds: 0 } };
  for (const chain of ['inbound|8080||', 'inbound|7070||']) {
    const action = routes.get(chain)?.route;
    assert.ok(action, `${chain} has its route (${[...routes.keys()].join(', ')})`);
    assert.deepEqual(action['retry_policy'], { retry_on: 'reset-before-request', num_retries: { value: 2 } }, chain);
    assert.deepEqual(action['max_stream_duration'], noLimits, chain);
    assert.deepEqual(action['timeout'], { seconds: 0 }, chain);
  }
  const grpc = routes.get('inbound|9090||')?.route;
  assert.ok(grpc);
  assert.equal(grpc['retry_policy'], undefined);
  assert.deepEqual(grpc['max_stream_duration'], noLimits);
});

test('gRPC-Web ports get no inbound retry either: Istio\'s IsGRPC() counts GRPC-Web (appProtocol, port name, Sidecar)', () => {
  const grpcWeb = `
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec:
  selector: { app: api }
  ports:
    - { name: web, appProtocol: grpc-web, port: 60, targetPort: 6060 }
    - { name: grpc-web, port: 61, targetPort: 6161 }
    - { name: http, appProtocol: http, port: 62, targetPort: 6262 }
`;
  const routes = inboundRoutes(grpcWeb);
  for (const chain of ['inbound|6060||', 'inbound|6161||']) {
    const action = routes.get(chain)?.route;
    assert.ok(action, `${chain} has its route (${[...routes.keys()].join(', ')})`);
    assert.equal(action['retry_policy'], undefined, chain);
  }
  assert.deepEqual(routes.get('inbound|6262||')?.route?.['retry_policy'], { retry_on: 'reset-before-request', num_retries: { value: 2 } });
  // A Sidecar's ingress port of protocol GRPC-Web, as Istio's protocol.Parse reads it.
  const sidecar = `${grpcWeb}---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: api, namespace: shop }
spec:
  workloadSelector: { labels: { app: api } }
  ingress:
    - port: { number: 7000, protocol: GRPC-Web, name: web }
      defaultEndpoint: 127.0.0.1:7000
`;
  const viaSidecar = inboundRoutes(sidecar).get('inbound|7000||')?.route;
  assert.ok(viaSidecar);
  assert.equal(viaSidecar['retry_policy'], undefined);
});

// Istio's setUpstreamProtocol (cluster builder) gives every port whose protocol IsHTTP2() (GRPC-Web included)
// http2_protocol_options. Inbound, Istio's app gets plain gRPC from its grpc_web filter; Outrigger has none,
// so the app gets the gRPC-Web request itself, over HTTP/1.1 as before.
test('gRPC-Web ports are spoken as HTTP/2 between sidecars, as Istio IsHTTP2(), and as HTTP/1.1 to the app', () => {
  const { resources, diagnostics } = loadText(
    `
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec:
  selector: { app: api }
  ports:
    - { name: web, appProtocol: grpc-web, port: 60, targetPort: 6060 }
    - { name: grpc-web-ui, port: 61, targetPort: 6161 }
    - { name: http, port: 62, targetPort: 6262 }
`,
    'input.yaml',
  );
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const clusters = buildProxyResources(buildSnapshot(resources, [], '1'), api).get(TypeUrl.Cluster);
  assert.ok(clusters);
  const h2 = (name: string): unknown => {
    const c = clusters.get(name) as Record<string, Record<string, Record<string, unknown>>> | undefined;
    assert.ok(c, `${name} (${[...clusters.keys()].join(', ')})`);
    return c['typed_extension_protocol_options']?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']?.['explicit_http_config'];
  };
  for (const name of ['outbound|60||api.shop.svc.cluster.local', 'outbound|61||api.shop.svc.cluster.local']) {
    assert.deepEqual(h2(name), { http2_protocol_options: {} }, name);
  }
  for (const name of ['outbound|62||api.shop.svc.cluster.local', 'inbound|6060||', 'inbound|6161||', 'inbound|6262||']) assert.equal(h2(name), undefined, name);
});
