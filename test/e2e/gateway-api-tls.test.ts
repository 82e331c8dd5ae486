// TLSRoute end to end: a Gateway's Passthrough listener, bound on a free local port that `up`'s summary
// and `outrigger status` name, routes each TLS connection by its SNI to the backend that terminates it
// with its own certificate; and a BackendTLSPolicy, by which the gateway speaks TLS to its backend.
// A real `up` in this process, real proxies, real TLS clients and servers.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import tls from 'node:tls';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { makeCa } from '../proxy/certs.ts';
import { meshDir, upInProcess } from './up-in-process.ts';

/** A TLS server on $PORT with the certificate in $CERT / $KEY that answers each connection with $NAME. */
const server = `require('node:tls').createServer({ cert: process.env.CERT, key: process.env.KEY }, (s) => s.end(process.env.NAME + '\\n')).listen(Number(process.env.PORT), '127.0.0.1')`;

const backend = (name: string, cert: { cert: string; key: string }) => `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: shop}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers:
        - name: app
          image: example/${name}
          command: [${JSON.stringify(process.execPath)}, -e, ${JSON.stringify(server)}]
          env:
          - {name: NAME, value: ${name}}
          - {name: CERT, value: ${JSON.stringify(cert.cert)}}
          - {name: KEY, value: ${JSON.stringify(cert.key)}}
          ports: [{containerPort: 8443}]
---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: shop}
spec: {selector: {app: ${name}}, ports: [{name: tls, port: 8443}]}
`;

const manifests = (a: { cert: string; key: string }, b: { cert: string; key: string }) => `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
${backend('a', a)}${backend('b', b)}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: sni, namespace: shop}
spec:
  gatewayClassName: istio
  listeners:
  - {name: passthrough, port: 443, protocol: TLS, hostname: "*.example.com", tls: {mode: Passthrough}}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: a, namespace: shop}
spec:
  parentRefs: [{name: sni}]
  hostnames: [a.example.com]
  rules: [{backendRefs: [{name: a, port: 8443}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: b, namespace: shop}
spec:
  parentRefs: [{name: sni}]
  hostnames: [b.example.com]
  rules: [{backendRefs: [{name: b, port: 8443}]}]
`;

/** Connects with this SNI, trusting only the test CA: the certificate's name and the line the server sent. */
function connect(port: number, servername: string, ca: string): Promise<{ subjectAltName: string; body: string }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca, timeout: 10_000 }, () => {
      const subjectAltName = s.getPeerCertificate().subjectaltname ?? '';
      let body = '';
      s.setEncoding('utf8');
      s.on('data', (d) => {
        body += d;
      });
      s.on('end', () => resolve({ subjectAltName, body: body.trim() }));
    });
    s.on('error', reject);
    s.on('timeout', () => s.destroy(new Error('timed out')));
  });
}

test('up: a TLSRoute on a Passthrough listener: the SNI picks the backend, which terminates TLS itself', { timeout: 120_000 }, async () => {
  const ca = await makeCa('tls-route-ca');
  const [a, b] = [await ca.issueWithSans([{ type: 'dns', value: 'a.example.com' }]), await ca.issueWithSans([{ type: 'dns', value: 'b.example.com' }])];
  const { dir, config, state } = meshDir('or-tls-route-', manifests(a, b));
  const up = upInProcess(['-f', config, '--ephemeral-ports', '--dir', state]);
  try {
    await up.until(/^mesh ready in /);
    // The summary names the Gateway and where its listener answers on this host.
    const [, port] = await up.until(/^ {2}gateway shop\/sni: tls:\/\/127\.0\.0\.1:(\d+) \(443\)$/);
    const a1 = await connect(Number(port), 'a.example.com', ca.ca);
    assert.deepEqual(a1, { subjectAltName: 'DNS:a.example.com', body: 'a' });
    const b1 = await connect(Number(port), 'b.example.com', ca.ca);
    assert.deepEqual(b1, { subjectAltName: 'DNS:b.example.com', body: 'b' });
    // An SNI no TLSRoute names: the gateway has no chain for it and closes the connection.
    await assert.rejects(connect(Number(port), 'c.example.com', ca.ca));

    // `outrigger status` lists the same.
    await main(['node', 'outrigger', 'status', '--dir', state]);
    await up.until(new RegExp(`^gateway shop/sni: tls://127\\.0\\.0\\.1:${port} \\(443\\)$`));
  } finally {
    await up.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** An HTTPS server on $PORT with the certificate in $CERT / $KEY that answers every request with $NAME. */
const httpsServer = `require('node:https').createServer({ cert: process.env.CERT, key: process.env.KEY }, (q, r) => r.end(process.env.NAME)).listen(Number(process.env.PORT), '127.0.0.1')`;

const backendTlsManifests = (api: { cert: string; key: string }, ca: string) => `apiVersion: v1
kind: Namespace
metadata: {name: api}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
        - name: app
          image: example/api
          command: [${JSON.stringify(process.execPath)}, -e, ${JSON.stringify(httpsServer)}]
          env:
          - {name: NAME, value: api}
          - {name: CERT, value: ${JSON.stringify(api.cert)}}
          - {name: KEY, value: ${JSON.stringify(api.key)}}
          ports: [{containerPort: 8443}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: api}
spec: {selector: {app: api}, ports: [{name: https, port: 8443}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: api-ca, namespace: api}
data: {ca.crt: ${JSON.stringify(ca)}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: api, namespace: api}
spec:
  targetRefs: [{group: "", kind: Service, name: api}]
  validation: {caCertificateRefs: [{group: "", kind: ConfigMap, name: api-ca}], hostname: api.example.com}
---
apiVersion: v1
kind: Service
metadata: {name: api-wrong-name, namespace: api}
spec: {selector: {app: api}, ports: [{name: https, port: 8443}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: api-wrong-name, namespace: api}
spec:
  targetRefs: [{group: "", kind: Service, name: api-wrong-name}]
  validation: {caCertificateRefs: [{group: "", kind: ConfigMap, name: api-ca}], hostname: other.example.com}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: api}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api, namespace: api}
spec:
  parentRefs: [{name: web}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /wrong}}]
    backendRefs: [{name: api-wrong-name, port: 8443}]
  - backendRefs: [{name: api, port: 8443}]
`;

test('up: a BackendTLSPolicy: the gateway speaks TLS to the backend, verifying it by the ConfigMap CA and hostname', { timeout: 120_000 }, async () => {
  const ca = await makeCa('backend-tls-ca');
  const api = await ca.issueWithSans([{ type: 'dns', value: 'api.example.com' }]);
  const { dir, config, state } = meshDir('or-backend-tls-', backendTlsManifests(api, ca.ca));
  const up = upInProcess(['-f', config, '--ephemeral-ports', '--dir', state]);
  try {
    await up.until(/^mesh ready in /);
    const [, port] = await up.until(/^ {2}gateway api\/web: http:\/\/127\.0\.0\.1:(\d+) \(80\)$/);
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(10_000) });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    assert.equal(body, 'api');
    // The same backend verified for another hostname: its certificate does not name it, no connection.
    const wrong = await fetch(`http://127.0.0.1:${port}/wrong`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(wrong.status, 503, await wrong.text());
  } finally {
    await up.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
