// The Gateway API at the edge, end to end: a Gateway of class `istio` gets a gateway proxy of its own
// (`<name>-istio`, as Istio deploys one), its HTTP and HTTPS listeners each bound on a free local port
// that `up` prints; HTTPRoutes attached to it route by host and path, and redirect HTTP to HTTPS.
// A real `up` in this process, a real proxy host, real sockets.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { readState } from '../../src/runtime/state.ts';
import { makeCa } from '../proxy/certs.ts';
import { meshDir, upInProcess } from './up-in-process.ts';

const deployment = (v: string, tag: string) => `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-${v}, namespace: shop}
spec:
  selector: {matchLabels: {app: web, version: ${v}}}
  template:
    metadata: {labels: {app: web, version: ${v}}}
    spec: {containers: [{name: app, image: ghcr.io/stefanprodan/podinfo:${tag}, ports: [{containerPort: 9898}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-${v}, namespace: shop}
spec: {selector: {version: ${v}}, ports: [{name: http, port: 9898}]}
`;

function manifests(tls: { cert: string; key: string }): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
${deployment('v1', '6.5.3')}${deployment('v2', '6.6.0')}---
apiVersion: v1
kind: Secret
metadata: {name: web-cert, namespace: shop}
type: kubernetes.io/tls
data: {tls.crt: ${b64(tls.cert)}, tls.key: ${b64(tls.key)}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: shop}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP, hostname: web.example.com}
  - name: https
    port: 443
    protocol: HTTPS
    hostname: web.example.com
    tls: {mode: Terminate, certificateRefs: [{name: web-cert}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop}
spec:
  parentRefs: [{name: web, sectionName: https}]
  hostnames: [web.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /v2}}]
    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}}]
    backendRefs: [{name: web-v2, port: 9898}]
  - backendRefs: [{name: web-v1, port: 9898}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: to-https, namespace: shop}
spec:
  parentRefs: [{name: web, sectionName: http}]
  rules:
  - filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]
`;
}

function curl(args: string[]): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) =>
    execFile('curl', ['-s', '-i', ...args], { timeout: 10_000 }, (err, out) => {
      if (err) return reject(err);
      const [head = '', body = ''] = out.split(/\r\n\r\n/);
      resolve({ status: Number(/^HTTP\/\S+ (\d+)/.exec(head)?.[1]), head, body });
    }),
  );
}

const versionOf = (body: string) => (JSON.parse(body) as { version: string }).version;

test('up: a Gateway of class istio gets its own gateway proxy, its listeners on printed ports, routing its HTTPRoutes', { timeout: 120_000 }, async () => {
  const tls = await (await makeCa('gateway-api-ca')).issueWithSans([{ type: 'dns', value: 'web.example.com' }]);
  const { dir, config, state } = meshDir('or-gateway-api-', manifests(tls));
  const up = upInProcess(['-f', config, '--ephemeral-ports', '--dir', state]);
  try {
    const ready = await up.until(/^\[.*\] shop\/web-istio-0: ready \(server port 80 on 127\.0\.0\.1:(\d+), server port 443 on 127\.0\.0\.1:(\d+)\)$/);
    const [http, https] = [Number(ready[1]), Number(ready[2])];
    await up.until(/^mesh ready in /);
    const gateway = readState(state)?.components.find((c) => c.name === 'shop/web-istio-0');
    assert.equal(gateway?.kind, 'gateway');
    assert.equal(gateway?.ports['proxy:443'], https);

    // SNI web.example.com picks the listener's certificate (-k: the test CA is not the system's).
    const get = (path: string) => curl(['-k', '--resolve', `web.example.com:${https}:127.0.0.1`, `https://web.example.com:${https}${path}`]);
    const v1 = await get('/version');
    assert.equal(v1.status, 200, v1.body);
    assert.equal(versionOf(v1.body), '6.5.3');
    const v2 = await get('/v2/version');
    assert.equal(v2.status, 200, v2.body);
    assert.equal(versionOf(v2.body), '6.6.0');

    // The HTTP listener answers with the redirect to HTTPS (the scheme's default port, so none written).
    const redirect = await curl(['-H', 'Host: web.example.com', `http://127.0.0.1:${http}/version`]);
    assert.equal(redirect.status, 301, redirect.head);
    assert.match(redirect.head, /^location: https:\/\/web\.example\.com\/version\r?$/im);
    // Another host is not the listener's.
    assert.equal((await curl(['-H', 'Host: other.example.com', `http://127.0.0.1:${http}/version`])).status, 404);
  } finally {
    await up.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
