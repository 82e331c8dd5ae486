// VirtualService redirects and their ports, translated as pilot does and served by a real proxy.
// `derivePort: FROM_REQUEST_PORT`: on port 80 (http) no `port_redirect` at all, so the Location keeps the
// request's host as the client wrote it (no `:80` added); on any other port the port is the listener's.
// An `authority` that carries a port, with a redirect port too: pilot passes the authority through as
// `host_redirect` unchanged and adds `port_redirect`; Envoy's newUri writes the host as configured and
// the port after it, so the Location has both (`other.example.com:9000:8443`).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { hcm, listener, push, request, startProxy } from '../proxy/harness.ts';

const mesh = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: app}
spec: {selector: {app: web}, ports: [{name: http, port: 80}, {name: http-alt, port: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: app}
spec:
  hosts: [web.app.svc.cluster.local]
  http:
  - name: moved
    match: [{uri: {prefix: /old}}]
    redirect: {uri: /new, derivePort: FROM_REQUEST_PORT}
  - name: elsewhere
    match: [{uri: {prefix: /away}}]
    redirect: {authority: other.example.com, derivePort: FROM_REQUEST_PORT}
  - name: pinned
    match: [{uri: {prefix: /pinned}}]
    redirect: {uri: /p, port: 80}
  - name: both
    match: [{uri: {prefix: /both}}]
    redirect: {authority: "other.example.com:9000", port: 8443}
  - name: derived
    match: [{uri: {prefix: /derived}}]
    redirect: {authority: "other.example.com:9000", derivePort: FROM_REQUEST_PORT}
  - name: own
    match: [{uri: {prefix: /own}}]
    redirect: {authority: "other.example.com:9000"}
`;

const client = {
  id: 'sidecar~127.0.0.1~client-0.app~app.svc.cluster.local',
  role: 'sidecar',
  namespace: 'app',
  workloadName: 'client',
  serviceAccount: 'default',
  labels: { app: 'client' },
  ip: '127.0.0.1',
  appPorts: {},
} as ProxyView;

let env: Awaited<ReturnType<typeof startProxy>>;
let routes: Map<string, TypedAny>;

/** The redirect of route `name` in route configuration `config`, as translated. */
function redirectOf(config: string, name: string): Record<string, unknown> | undefined {
  const rc = routes.get(config) as { virtual_hosts: { routes: { name?: string; redirect?: Record<string, unknown> }[] }[] } | undefined;
  return rc?.virtual_hosts.flatMap((vh) => vh.routes).find((r) => r.name === name)?.redirect;
}

before(async () => {
  const { resources, diagnostics } = loadText(mesh, 'mesh.yaml');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  routes = buildProxyResources(buildSnapshot(resources, [], '1'), client).get(TypeUrl.RouteConfiguration) as Map<string, TypedAny>;
  env = await startProxy();
  // The translated route configurations as they are, each behind a listener of its own.
  push(env.proxy, [listener('l80', 80, [{ filter: hcm('80') }]), listener('l8080', 8080, [{ filter: hcm('8080') }]), routes.get('80') as TypedAny, routes.get('8080') as TypedAny]);
});

after(() => env.close());

test('derivePort FROM_REQUEST_PORT on port 80 translates to no port_redirect (pilot drops :80 for http); on 8080 to 8080', () => {
  assert.deepEqual(redirectOf('80', 'moved'), { path_redirect: '/new' });
  assert.deepEqual(redirectOf('80', 'elsewhere'), { host_redirect: 'other.example.com' });
  // An explicit port 80 for http is dropped too.
  assert.deepEqual(redirectOf('80', 'pinned'), { path_redirect: '/p' });
  assert.deepEqual(redirectOf('8080', 'moved'), { path_redirect: '/new', port_redirect: 8080 });
  assert.deepEqual(redirectOf('8080', 'elsewhere'), { host_redirect: 'other.example.com', port_redirect: 8080 });
});

test('through the proxy: port 80 keeps the Host as sent (no :80 added), another port puts the listener port', async () => {
  const [p80, p8080] = [await env.port('l80'), await env.port('l8080')];
  const location = async (port: number, path: string, host: string) => {
    const r = await request(port, path, { host });
    assert.equal(r.status, 301, `${host}${path}: ${r.status} ${r.body}`);
    return r.headers.location;
  };
  assert.equal(await location(p80, '/old', 'web.app.svc.cluster.local'), 'http://web.app.svc.cluster.local/new');
  assert.equal(await location(p80, '/old', 'web'), 'http://web/new');
  // Envoy leaves the request's host alone when no port_redirect is set: a client that wrote :80 gets it back.
  assert.equal(await location(p80, '/old', 'web:80'), 'http://web:80/new');
  assert.equal(await location(p80, '/away', 'web'), 'http://other.example.com/away');
  assert.equal(await location(p80, '/pinned', 'web'), 'http://web/p');
  assert.equal(await location(p8080, '/old', 'web'), 'http://web:8080/new');
  assert.equal(await location(p8080, '/old', 'web:8080'), 'http://web:8080/new');
  assert.equal(await location(p8080, '/away', 'web:8080'), 'http://other.example.com:8080/away');
});

test('pilot keeps an authority with a port as written in host_redirect, the port in port_redirect', () => {
  assert.deepEqual(redirectOf('8080', 'both'), { host_redirect: 'other.example.com:9000', port_redirect: 8443 });
  assert.deepEqual(redirectOf('8080', 'derived'), { host_redirect: 'other.example.com:9000', port_redirect: 8080 });
  assert.deepEqual(redirectOf('8080', 'own'), { host_redirect: 'other.example.com:9000' });
});

test("through the proxy: Envoy's Location is the authority as written, then the redirect port", async () => {
  const port = await env.port('l8080');
  const location = async (path: string) => {
    const r = await request(port, path, { host: 'web:8080' });
    assert.equal(r.status, 301, `${path}: ${r.status} ${r.body}`);
    return r.headers.location;
  };
  assert.equal(await location('/both'), 'http://other.example.com:9000:8443/both');
  assert.equal(await location('/derived'), 'http://other.example.com:9000:8080/derived');
  assert.equal(await location('/own'), 'http://other.example.com:9000/own');
});
