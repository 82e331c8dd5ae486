// A Gateway's YAML into a router proxy's resources, its TLS secrets, and one HTTPS request: for the mixed-port tests.
import assert from 'node:assert/strict';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { loadText } from '../../src/config/load.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import { ingressGatewayView } from '../fixtures/ingress-gateway-view.ts';

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
