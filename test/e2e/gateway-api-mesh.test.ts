// The Gateway API in the mesh (GAMMA), end to end: an HTTPRoute whose parent is a Service routes the
// requests a client's sidecar sends to that Service: by header to v2, by path with a rewrite and a
// response header, a prefix redirect, else to v1. A real `up` in this process, real sidecars, real requests.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { readState } from '../../src/runtime/state.ts';
import { meshDir, upInProcess } from './up-in-process.ts';

const deployment = (name: string, labels: string, image: string, port = true) => `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: shop}
spec:
  selector: {matchLabels: {${labels}}}
  template:
    metadata: {labels: {${labels}}}
    spec: {containers: [{name: app, image: ${image}${port ? ', ports: [{containerPort: 9898}]' : ''}}]}
`;

const service = (name: string, selector: string) => `---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: shop}
spec: {selector: {${selector}}, ports: [{name: http, port: 9898}]}
`;

const manifests = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
${deployment('web-v1', 'app: web, version: v1', 'ghcr.io/stefanprodan/podinfo:6.5.3')}${deployment('web-v2', 'app: web, version: v2', 'ghcr.io/stefanprodan/podinfo:6.6.0')}${deployment('client', 'app: client', 'curlimages/curl', false)}${service('web', 'app: web')}${service('web-v1', 'version: v1')}${service('web-v2', 'version: v2')}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: web, port: 9898}]
  rules:
  - matches: [{headers: [{name: x-canary, value: "true"}]}]
    backendRefs: [{name: web-v2, port: 9898}]
  - matches: [{path: {type: PathPrefix, value: /v2}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {set: [{name: x-routed-by, value: httproute}]}
    backendRefs: [{name: web-v2, port: 9898}]
  - matches: [{path: {type: PathPrefix, value: /old}}]
    filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}, statusCode: 301}}]
  - backendRefs: [{name: web-v1, port: 9898}]
`;

/** A request the way the client app sends it: through its sidecar's outbound (HTTP proxy) port. */
function viaSidecar(outbound: number, url: string, headers: string[] = []): Promise<{ status: number; headers: string; body: string }> {
  const args = ['-s', '-i', '-x', `http://127.0.0.1:${outbound}`, ...headers.flatMap((h) => ['-H', h]), url];
  return new Promise((resolve, reject) =>
    execFile('curl', args, { timeout: 10_000 }, (err, out) => {
      if (err) return reject(err);
      const [head = '', body = ''] = out.split(/\r\n\r\n/);
      resolve({ status: Number(/^HTTP\/\S+ (\d+)/.exec(head)?.[1]), headers: head.toLowerCase(), body });
    }),
  );
}

const versionOf = (body: string) => (JSON.parse(body) as { version: string }).version;

test('up: an HTTPRoute with a Service parent routes the sidecars\' requests to that Service by header and path', { timeout: 120_000 }, async () => {
  const { dir, config, state } = meshDir('or-gamma-', manifests);
  const up = upInProcess(['-f', config, '--ephemeral-ports', '--dir', state]);
  try {
    await up.until(/^mesh ready in /);
    const client = readState(state)?.components.find((c) => c.name === 'shop/client-0');
    const outbound = client?.ports['proxy:15001'] as number;
    assert.ok(outbound, JSON.stringify(client));
    // The catch-all rule: always v1, never the Service's other Deployment.
    for (let i = 0; i < 6; i++) {
      const r = await viaSidecar(outbound, 'http://web.shop:9898/version');
      assert.equal(r.status, 200, r.body);
      assert.equal(versionOf(r.body), '6.5.3');
    }
    for (let i = 0; i < 3; i++) assert.equal(versionOf((await viaSidecar(outbound, 'http://web.shop:9898/version', ['x-canary: true'])).body), '6.6.0');
    // /v2/version: the prefix replaced by /, so v2's /version answers, with the route's response header.
    const rewritten = await viaSidecar(outbound, 'http://web.shop:9898/v2/version');
    assert.equal(rewritten.status, 200, rewritten.body);
    assert.equal(versionOf(rewritten.body), '6.6.0');
    assert.match(rewritten.headers, /^x-routed-by: httproute\r?$/m);
    // A redirect that replaces the matched prefix only: /old/page → /v2/page.
    const moved = await viaSidecar(outbound, 'http://web.shop:9898/old/page?x=1');
    assert.equal(moved.status, 301, moved.headers);
    assert.match(moved.headers, /^location: http:\/\/web\.shop:9898\/v2\/page\?x=1\r?$/m);
  } finally {
    await up.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
