// Gateway route configurations as Istio builds them, compiled by the proxy's own route library: which
// virtual host a Host header reaches (with and without a port, wildcard server hosts), httpsRedirect,
// and 404 NR when nothing is bound.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import type { EnvoyRouteConfiguration } from '../proxy/http/route/envoy-types.ts';
import { compileRouteConfiguration, type RouteTable } from '../proxy/http/route/index.ts';
import type { DownstreamRequest } from '../proxy/http/stream.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { buildProxyResources } from './proxy-resources.ts';
import { ingressGatewayView } from '../../test/fixtures/ingress-gateway-view.ts';

const router = ingressGatewayView;

const web = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: app }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 9898 }]
`;

function routeTables(yaml: string): Map<string, RouteTable> {
  const { resources, diagnostics } = loadText(`${web}---${yaml}`);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const out = buildProxyResources(buildSnapshot(resources, [], '1'), router);
  const tables = new Map<string, RouteTable>();
  for (const [name, rc] of out.get(TypeUrl.RouteConfiguration) ?? []) tables.set(name, compileRouteConfiguration(rc as EnvoyRouteConfiguration));
  return tables;
}

function request(authority: string, scheme: 'http' | 'https' = 'http'): DownstreamRequest {
  return {
    method: 'GET',
    scheme,
    authority,
    sentAuthority: authority,
    path: '/',
    query: '',
    headers: new Map(),
    protocol: 'HTTP/1.1',
    connection: { remoteAddress: '10.0.0.1', remotePort: 4444, localAddress: '', localPort: 8080, tls: scheme === 'https' },
  };
}

/** `forward` for a routed request, `redirect`, or `NR` when no route matches. */
function outcome(table: RouteTable | undefined, authority: string, scheme: 'http' | 'https' = 'http'): string {
  assert.ok(table, 'route configuration exists');
  const r = table.match(request(authority, scheme), 0);
  if (r === null) return 'NR';
  if (r.redirect) return 'redirect';
  return r.kind;
}

const gateway = (servers: string) => `
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: { name: gw, namespace: app }
spec:
  selector: { istio: ingressgateway }
  servers:
${servers}
`;

const vs = (hosts: string) => `
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: web, namespace: app }
spec:
  hosts: ${hosts}
  gateways: [gw]
  http:
    - route: [{ destination: { host: web } }]
`;

test('a wildcard server host compiles and serves its subdomains, with or without a port in Host', () => {
  const t = routeTables(`${gateway(`    - port: { number: 80, name: http, protocol: HTTP }
      hosts: ["web.example.com", "*.wild.example.com"]`)}---${vs('["web.example.com", "*.wild.example.com"]')}`).get('http.8080');
  assert.equal(outcome(t, 'a.wild.example.com'), 'forward');
  assert.equal(outcome(t, 'a.wild.example.com:8080'), 'forward');
  assert.equal(outcome(t, 'wild.example.com'), 'NR');
  assert.equal(outcome(t, 'web.example.com'), 'forward');
  assert.equal(outcome(t, 'web.example.com:80'), 'forward');
  assert.equal(outcome(t, 'web.example.com:31380'), 'forward');
  assert.equal(outcome(t, 'other.example.com'), 'NR');
});

test('a wildcard VirtualService host gets every server host it covers (Istio\'s host intersection)', () => {
  const t = routeTables(`${gateway(`    - port: { number: 80, name: http, protocol: HTTP }
      hosts: ["a.example.com", "b.example.com"]`)}---${vs('["*.example.com"]')}`).get('http.8080');
  assert.equal(outcome(t, 'a.example.com'), 'forward');
  assert.equal(outcome(t, 'b.example.com'), 'forward');
  assert.equal(outcome(t, 'c.example.com'), 'NR');
});

test('httpsRedirect redirects plain HTTP for every server host, bound to a VirtualService or not', () => {
  const t = routeTables(`${gateway(`    - port: { number: 80, name: http, protocol: HTTP }
      hosts: ["web.example.com", "app/bare.example.com"]
      tls: { httpsRedirect: true }`)}---${vs('["web.example.com"]')}`).get('http.8080');
  assert.equal(outcome(t, 'web.example.com'), 'redirect');
  assert.equal(outcome(t, 'bare.example.com'), 'redirect');
  assert.equal(outcome(t, 'bare.example.com:8080'), 'redirect');
  assert.equal(outcome(t, 'other.example.com'), 'NR');
});

test('a server no VirtualService binds answers 404 NR (Istio\'s empty blackhole virtual host)', () => {
  const t = routeTables(gateway(`    - port: { number: 80, name: http, protocol: HTTP }
      hosts: ["web.example.com"]`)).get('http.8080');
  assert.equal(outcome(t, 'web.example.com'), 'NR');
  assert.equal(outcome(t, 'anything'), 'NR');
});
