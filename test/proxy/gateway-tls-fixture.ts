// A Gateway's YAML into a router proxy's resources, its TLS secrets, a router proxy serving it in front
// of an echo backend, and one HTTPS request: for the mixed-port tests.
import assert from 'node:assert/strict';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { loadText } from '../../src/config/load.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import { ingressGatewayView } from '../fixtures/ingress-gateway-view.ts';
import { makeCa } from './certs.ts';
import { echoBackend, push, startProxy } from './harness.ts';

export const b64 = (s: string) => Buffer.from(s).toString('base64');
export type Cred = { cert: string; key: string };
export const secret = (name: string, c: Cred, cacert?: string) => `apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: istio-system}
data: {cert: ${b64(c.cert)}, key: ${b64(c.key)}${cacert ? `, cacert: ${b64(cacert)}` : ''}}
---
`;

export function resourcesOf(text: string) {
  const { resources, diagnostics } = loadText(text);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const out = buildProxyResources(buildSnapshot(resources, [], '1'), ingressGatewayView);
  return [...out.values()].flatMap((m) => [...m.values()]);
}

export interface Answer { status: number; protocol: string | null; body: string; headers: Record<string, unknown> }

export function get(port: number, servername: string, host: string, extra: Record<string, unknown> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, servername, path: '/', headers: { host }, rejectUnauthorized: false, agent: false, ...extra }, (res) => {
      const s = res.socket as TLSSocket;
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, protocol: s.getProtocol(), body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The echo backend as the ServiceEntry app.internal, which every gateway route sends to. */
export const appEntry = (appPort: number) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: app, namespace: app}
spec:
  hosts: [app.internal]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${appPort}}}]
`;

/** A VirtualService on Gateway gw sending `hosts` to app.internal; `servedBy` sets an x-served response header. */
export const routeToApp = (name: string, hosts: string[], servedBy?: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: app}
spec:
  hosts: [${hosts.join(', ')}]
  gateways: [gw]
  http: [{route: [{destination: {host: app.internal, port: {number: 80}}}]${servedBy ? `, headers: {response: {set: {x-served: ${servedBy}}}}` : ''}}]
`;

export type RouterEnv = Awaited<ReturnType<typeof startProxy>>;
export type App = Awaited<ReturnType<typeof echoBackend>>;

/** An echo backend and a router proxy serving `yaml(app.port)`. */
export async function startGateway(yaml: (appPort: number) => string): Promise<{ env: RouterEnv; app: App }> {
  const app = await echoBackend();
  const env = await startProxy({ role: 'router' });
  push(env.proxy, resourcesOf(yaml(app.port)));
  return { env, app };
}

/** CA-A (gw-ca) with the gateway's certificate for a.example.com and w.example.com. */
export async function gatewayCert() {
  const ca = await makeCa('gw-ca');
  const web = await ca.issueWithSans([{ type: 'dns', value: 'a.example.com' }, { type: 'dns', value: 'w.example.com' }]);
  return { ca, web };
}

/** CA-B (tenant-b-ca) and a client certificate it issued. */
export async function tenantB() {
  const ca = await makeCa('tenant-b-ca');
  const client = await ca.issueWithSans([{ type: 'dns', value: 'client.other' }]);
  return { ca, client };
}

/**
 * Two MUTUAL servers on port 443: a.example.com against CA-A, "other/*" (no SNI names) against CA-B,
 * with a.example.com routed to the backend (x-served: a). Returns the proxy, the backend, the port and a
 * CA-B client certificate.
 */
export async function startTenantsGateway(opts: { aMinTls13: boolean }) {
  const { ca, web } = await gatewayCert();
  const b = await tenantB();
  const aTls = opts.aMinTls13 ? '{mode: MUTUAL, credentialName: web-cert, minProtocolVersion: TLSV1_3}' : '{mode: MUTUAL, credentialName: web-cert}';
  const { env, app } = await startGateway((appPort) => `${secret('web-cert', web, ca.ca)}${secret('w-cert', web, b.ca.ca)}apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: app}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https-a, protocol: HTTPS}
      hosts: [a.example.com]
      tls: ${aTls}
    - port: {number: 443, name: https-w, protocol: HTTPS}
      hosts: ["other/*"]
      tls: {mode: MUTUAL, credentialName: w-cert}
---
${appEntry(appPort)}---
${routeToApp('a', ['a.example.com'], 'a')}`);
  return { env, app, port: await env.port('0.0.0.0_8443'), clientB: b.client };
}
