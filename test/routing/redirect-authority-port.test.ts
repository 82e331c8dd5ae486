// A VirtualService redirect whose `authority` carries a port, with a redirect port too: pilot passes the
// authority through as `host_redirect` unchanged and adds `port_redirect`; Envoy's newUri writes the
// host as configured and the port after it, so the Location has both (`other.example.com:9000:8443`).
// Served by a real proxy; the authority without a port redirect keeps its own port alone.
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
spec: {selector: {app: web}, ports: [{name: http-alt, port: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: app}
spec:
  hosts: [web.app.svc.cluster.local]
  http:
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

function redirectOf(name: string): Record<string, unknown> | undefined {
  const rc = routes.get('8080') as { virtual_hosts: { routes: { name?: string; redirect?: Record<string, unknown> }[] }[] } | undefined;
  return rc?.virtual_hosts.flatMap((vh) => vh.routes).find((r) => r.name === name)?.redirect;
}

before(async () => {
  const { resources, diagnostics } = loadText(mesh, 'mesh.yaml');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  routes = buildProxyResources(buildSnapshot(resources, [], '1'), client).get(TypeUrl.RouteConfiguration) as Map<string, TypedAny>;
  env = await startProxy();
  push(env.proxy, [listener('l8080', 8080, [{ filter: hcm('8080') }]), routes.get('8080') as TypedAny]);
});

after(() => env.close());

test('pilot keeps the authority as written in host_redirect, the port in port_redirect', () => {
  assert.deepEqual(redirectOf('both'), { host_redirect: 'other.example.com:9000', port_redirect: 8443 });
  assert.deepEqual(redirectOf('derived'), { host_redirect: 'other.example.com:9000', port_redirect: 8080 });
  assert.deepEqual(redirectOf('own'), { host_redirect: 'other.example.com:9000' });
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
