// A workload without a sidecar, in process mode, reaches the mesh's Services by name, in plaintext, as
// cluster DNS and kube-proxy carry a pod without a sidecar in a cluster: any ready pod in turn, past the
// mesh's routing, served by the pod's sidecar as plaintext (a PERMISSIVE namespace takes it, a STRICT one
// resets it). Real `up` in this process, real proxies, real curl with the workload's own environment.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { readState } from '../../src/runtime/state.ts';
import { meshDir, type UpInProcess, upInProcess, withoutIngress } from './up-in-process.ts';

const manifests = `${withoutIngress}apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: ghcr.io/stefanprodan/podinfo:6.5.3
          ports: [{name: http, containerPort: 9898}]
---
# What meshed clients get; a client without a sidecar never passes the mesh's routing.
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web.shop.svc.cluster.local]
  http:
    - fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
      route: [{destination: {host: web.shop.svc.cluster.local}}]
---
apiVersion: v1
kind: Namespace
metadata: {name: vault, labels: {istio-injection: enabled}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: vault}
spec: {mtls: {mode: STRICT}}
---
apiVersion: v1
kind: Service
metadata: {name: safe, namespace: vault}
spec:
  selector: {app: safe}
  ports: [{name: http, port: 80, targetPort: 9898}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: safe, namespace: vault}
spec:
  selector: {matchLabels: {app: safe}}
  template:
    metadata: {labels: {app: safe}}
    spec:
      containers:
        - name: safe
          image: ghcr.io/stefanprodan/podinfo:6.5.3
          ports: [{containerPort: 9898}]
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: v1
kind: Service
metadata: {name: old, namespace: legacy}
spec:
  selector: {app: old}
  ports: [{name: http, port: 8080, targetPort: 9898}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: old, namespace: legacy}
spec:
  selector: {matchLabels: {app: old}}
  template:
    metadata: {labels: {app: old}}
    spec:
      containers:
        - name: old
          image: ghcr.io/stefanprodan/podinfo:6.5.3
          ports: [{containerPort: 9898}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: legacy}
spec:
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec:
      containers:
        - name: sleep
          image: curlimages/curl:8.5.0
`;

let up: UpInProcess;
let dir: string;
let env: Record<string, string>;
let state: string;

before(async () => {
  const m = meshDir('or-service-proxy-', manifests);
  dir = m.dir;
  state = m.state;
  up = upInProcess(['-f', m.config, '--ephemeral-ports', '--dir', m.state]);
  await up.until(/^mesh ready in /);
  const client = readState(m.state)?.components.find((c) => c.name === 'legacy/client-0');
  assert.ok(client?.env, 'the client runs with an environment');
  assert.equal(client.sidecar, false);
  env = client.env;
});

after(async () => {
  await up?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** curl as the client would run it: its environment (and so its proxy variables), nothing else. */
function curl(url: string, ...flags: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '20', '-w', '\n%{http_code}', ...flags, url], { env }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code) : 0, out: `${stdout}${stderr}` });
    });
  });
}

test('the client gets proxy variables for the service proxy, not a sidecar', () => {
  assert.match(env['http_proxy'] ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(env['HTTP_PROXY'], env['http_proxy']);
});

test("a PERMISSIVE Service's pods, in turn, as plaintext through their sidecars, past the mesh's routing", async () => {
  const body = (r: { out: string }) => JSON.parse(r.out.slice(0, r.out.lastIndexOf('\n'))) as Record<string, unknown>;
  for (const url of ['http://web.shop/headers', 'http://web.shop.svc.cluster.local/headers']) {
    const r = await curl(url);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /\n200$/, 'the VirtualService abort (418) is for meshed clients only');
    // Plaintext at the sidecar: no client certificate to forward.
    assert.equal(body(r)['X-Forwarded-Client-Cert'] ?? body(r)['x-forwarded-client-cert'], undefined, r.out);
  }
  const seen = [];
  for (let i = 0; i < 2; i++) seen.push(body(await curl('http://web.shop/'))['hostname']);
  assert.deepEqual(seen.sort(), ['web-0', 'web-1'], 'each pod in turn, as kube-proxy balances');
  // The pod's sidecar served them, as plaintext from a source it cannot name.
  const web0 = readState(state)?.components.find((c) => c.name === 'shop/web-0');
  const stats = await (await fetch(`http://127.0.0.1:${web0?.ports['proxy:15000']}/stats/prometheus`)).text();
  const served = stats.split('\n').filter((l) => l.startsWith('istio_requests_total{') && l.includes('reporter="destination"'));
  assert.ok(served.some((l) => l.includes('connection_security_policy="none"') && l.includes('source_workload="unknown"') && l.includes('response_code="200"')), served.join('\n'));
});

test('a STRICT Service resets the plaintext connection, as it does in a cluster (curl exit 56)', async () => {
  const r = await curl('http://safe.vault/');
  assert.equal(r.code, 56, r.out);
  assert.match(r.out, /reset by peer/i);
});

test('a Service port that does not exist, and a name that is no Service, are said as such', async () => {
  const port = await curl('http://web.shop:8080/');
  assert.match(port.out, /service web\.shop has no port 8080 \(its ports: 80\)\n\n503$/);
  // A short name is read in the client's own namespace, where there is no `web`: not a Service's name.
  const short = await curl('http://web/');
  assert.match(short.out, /web:80: (ENOTFOUND|EAI_AGAIN)\n\n502$/);
});

test('CONNECT: a TCP connection to a PERMISSIVE pod, reset by a STRICT one', async () => {
  const r = await curl('http://web.shop/', '--proxytunnel');
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /"hostname": "web-\d"[\s\S]*\n200$/);
  const strict = await curl('http://safe.vault/', '--proxytunnel');
  assert.equal(strict.code, 56, strict.out);
});

test("a pod without a sidecar either is reached straight, by the short name of its Service in the client's namespace", async () => {
  const r = await curl('http://old:8080/');
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /"hostname": "old-0"[\s\S]*\n200$/);
  const tunnelled = await curl('http://old:8080/', '--proxytunnel');
  assert.match(tunnelled.out, /"hostname": "old-0"[\s\S]*\n200$/);
});

test('a client that leaves mid-request, or sends no HTTP at all, ends only its own connection', async () => {
  const port = Number(new URL(env['http_proxy'] as string).port);
  for (const bytes of ['POST http://web.shop/echo HTTP/1.1\r\nHost: web.shop\r\nContent-Length: 100000\r\n\r\npart of a body', '\u0000\u0001 not http\r\n\r\n']) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    await once(s, 'connect');
    s.write(bytes);
    // The first is cut by the client mid-body; the second is cut by the proxy.
    if (bytes.startsWith('POST')) s.destroy();
    else await once(s, 'close');
  }
  const r = await curl('http://web.shop/');
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /\n200$/);
});
