// How a router merges the Gateway servers that select it, as Istio's mergeGateways and
// buildGatewayListeners do: listeners per port and bind, route and virtual host names, servers left out
// for a taken TLS host or a protocol the port cannot take, Gateways without a selector, short
// VirtualService hosts, AUTO_PASSTHROUGH refused, and the gateway HCM's client certificate settings.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { buildProxyResources } from './proxy-resources.ts';
import { ingressGatewayView } from '../../test/fixtures/ingress-gateway-view.ts';

// biome-ignore lint/suspicious/noExplicitAny: xDS resources read as untyped JSON
type Json = Record<string, any>;

const web = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: app }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 9898 }]
`;

const vs = (hosts: string, gateways = 'gw') => `
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: web, namespace: app }
spec:
  hosts: ${hosts}
  gateways: [${gateways}]
  http: [{ route: [{ destination: { host: web } }] }]
`;

const gateway = (name: string, servers: string, selector = 'selector: { istio: ingressgateway }') => `
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: { name: ${name}, namespace: app }
spec:
  ${selector}
  servers:
${servers}
`;

function translate(...docs: string[]) {
  const { resources, diagnostics } = loadText([web, ...docs].join('\n---\n'));
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const out = buildProxyResources(buildSnapshot(resources, [], '1'), ingressGatewayView);
  return {
    listeners: (out.get(TypeUrl.Listener) ?? new Map()) as Map<string, Json>,
    routes: (out.get(TypeUrl.RouteConfiguration) ?? new Map()) as Map<string, Json>,
    diagnostics,
  };
}

const gatewayListeners = (listeners: Map<string, Json>) => [...listeners.keys()].filter((k) => /_\d+$/.test(k) && !k.startsWith('virtual'));

test('a server with bind gets its own listener BIND_PORT on that address, and route http.PORT.BIND', () => {
  const { listeners, routes } = translate(
    gateway(
      'gw',
      `    - port: { number: 80, name: http, protocol: HTTP }
      hosts: ["a.example.com"]
    - port: { number: 80, name: http-internal, protocol: HTTP }
      bind: 127.0.0.2
      hosts: ["b.example.com"]`,
    ),
  );
  assert.deepEqual(gatewayListeners(listeners).sort(), ['0.0.0.0_8080', '127.0.0.2_8080']);
  assert.deepEqual(listeners.get('127.0.0.2_8080')?.['address'], { socket_address: { address: '127.0.0.2', port_value: 8080 } });
  assert.deepEqual([...routes.keys()].sort(), ['http.8080', 'http.8080.127.0.0.2']);
  const rds = listeners.get('127.0.0.2_8080')?.['filter_chains'][0].filters.at(-1).typed_config.rds.route_config_name;
  assert.equal(rds, 'http.8080.127.0.0.2');
});

test('the HTTPS route configuration is named https.NUMBER.PORT_NAME.GATEWAY.NAMESPACE (gatewayRDSRouteName)', () => {
  const { routes } = translate(
    gateway(
      'gw',
      `    - port: { number: 443, name: https-a, protocol: HTTPS }
      hosts: ["a.example.com"]
      tls: { mode: SIMPLE, credentialName: a-cert }`,
    ),
    vs('["a.example.com"]'),
  );
  assert.deepEqual([...routes.keys()], ['https.443.https-a.gw.app']);
});

test('virtual hosts, the blackhole one too, are named after the server port (80), not the pod port', () => {
  const bound = translate(gateway('gw', '    - port: { number: 80, name: http, protocol: HTTP }\n      hosts: ["a.example.com"]'), vs('["a.example.com"]'));
  assert.deepEqual(bound.routes.get('http.8080')?.['virtual_hosts'].map((v: Json) => v['name']), ['a.example.com:80']);
  const empty = translate(gateway('gw', '    - port: { number: 80, name: http, protocol: HTTP }\n      hosts: ["a.example.com"]'));
  assert.deepEqual(empty.routes.get('http.8080')?.['virtual_hosts'].map((v: Json) => v['name']), ['blackhole:80']);
});

test('a TLS server sharing any host with an earlier one on the port is left out whole (CheckDuplicates)', () => {
  const { listeners } = translate(
    gateway('gw1', '    - port: { number: 443, name: https, protocol: HTTPS }\n      hosts: ["a.example.com", "b.example.com"]\n      tls: { mode: SIMPLE, credentialName: ab-cert }'),
    gateway('gw2', '    - port: { number: 443, name: https, protocol: HTTPS }\n      hosts: ["b.example.com", "c.example.com"]\n      tls: { mode: SIMPLE, credentialName: bc-cert }'),
  );
  const names = listeners.get('0.0.0.0_8443')?.['filter_chains'].map((c: Json) => c['filter_chain_match']?.server_names);
  assert.deepEqual(names, [['a.example.com', 'b.example.com']]);
});

test('a passthrough TLS match naming an SNI host another match took is skipped whole', () => {
  const { listeners } = translate(
    gateway('gw', '    - port: { number: 443, name: tls, protocol: TLS }\n      hosts: ["*.example.com"]\n      tls: { mode: PASSTHROUGH }'),
    `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: pass, namespace: app }
spec:
  hosts: ["*.example.com"]
  gateways: [gw]
  tls:
    - match: [{ sniHosts: [a.example.com] }]
      route: [{ destination: { host: web } }]
    - match: [{ sniHosts: [b.example.com, a.example.com] }]
      route: [{ destination: { host: web } }]
    - match: [{ sniHosts: [c.example.com] }]
      route: [{ destination: { host: web } }]
`,
  );
  const names = listeners.get('0.0.0.0_8443')?.['filter_chains'].map((c: Json) => c['filter_chain_match']?.server_names);
  assert.deepEqual(names, [['a.example.com'], ['c.example.com']]);
});

test('an HTTPS server on a port a plain HTTP server holds is left out (canMergeProtocols); HTTP2 joins it', () => {
  const { listeners, routes } = translate(
    gateway(
      'gw',
      `    - port: { number: 8080, name: http, protocol: HTTP }
      hosts: ["a.example.com"]
    - port: { number: 8080, name: https, protocol: HTTPS }
      hosts: ["b.example.com"]
      tls: { mode: SIMPLE, credentialName: b-cert }
    - port: { number: 8080, name: http2, protocol: HTTP2 }
      hosts: ["c.example.com"]`,
    ),
  );
  assert.equal(listeners.get('0.0.0.0_8080')?.['filter_chains'].length, 1);
  assert.deepEqual([...routes.keys()], ['http.8080']);
});

test('a Gateway without a selector, or with an empty one, runs on every gateway pod (mergeGateways)', () => {
  for (const selector of ['', 'selector: {}']) {
    const { listeners } = translate(gateway('gw', '    - port: { number: 80, name: http, protocol: HTTP }\n      hosts: ["a.example.com"]', selector), vs('["a.example.com"]'));
    assert.ok(listeners.has('0.0.0.0_8080'), `${selector || 'no selector'}: ${[...listeners.keys()].join(',')}`);
  }
});

test('a short VirtualService host is its FQDN on a gateway (resolveVirtualServiceShortnames)', () => {
  const { routes } = translate(gateway('gw', '    - port: { number: 80, name: http, protocol: HTTP }\n      hosts: ["*"]'), vs('["web"]'));
  assert.deepEqual(routes.get('http.8080')?.['virtual_hosts'].flatMap((v: Json) => v['domains']), ['web.app.svc.cluster.local']);
});

test('AUTO_PASSTHROUGH is refused with OR1045 at its mode and builds no listener', () => {
  const { listeners, diagnostics } = translate(gateway('gw', '    - port: { number: 15443, name: tls, protocol: TLS }\n      hosts: ["*.local"]\n      tls: { mode: AUTO_PASSTHROUGH }'));
  assert.deepEqual(diagnostics.map((d) => [d.code, d.severity, d.field]), [['OR1045', 'warning', 'spec.servers[0].tls.mode']]);
  assert.ok(!listeners.has('0.0.0.0_15443'));
});

test('a gateway HCM sets SANITIZE_SET with Subject, Cert, URI and DNS; gatewayTopology.forwardClientCertDetails overrides the mode', () => {
  const server = '    - port: { number: 80, name: http, protocol: HTTP }\n      hosts: ["a.example.com"]';
  const hcm = (listeners: Map<string, Json>) => listeners.get('0.0.0.0_8080')?.['filter_chains'][0].filters.at(-1).typed_config;
  const byDefault = hcm(translate(gateway('gw', server)).listeners);
  assert.equal(byDefault['forward_client_cert_details'], 'SANITIZE_SET');
  assert.deepEqual(byDefault['set_current_client_cert_details'], { subject: { value: true }, cert: true, uri: true, dns: true });
  const mesh = `
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: mesh, namespace: istio-system }
spec:
  meshConfig:
    defaultConfig:
      gatewayTopology: { forwardClientCertDetails: APPEND_FORWARD }
`;
  assert.equal(hcm(translate(gateway('gw', server), mesh).listeners)['forward_client_cert_details'], 'APPEND_FORWARD');
});
