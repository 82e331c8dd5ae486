// `status` lists a port only where something listens: the proxies' own ports that are served (not the
// pilot-agent's 15020, which Outrigger does not serve), and of a gateway's server ports only those a
// Gateway server puts a listener on (8080 for a server on 80; no 8443 without a server on 443).
import assert from 'node:assert/strict';
import { rmSync, } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { readState } from '../../src/runtime/state.ts';
import { meshDir, meshedWeb, upInProcess } from './up-in-process.ts';

const manifests = `${meshedWeb}---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 9898}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: ["web.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: ["web.example.com"]
  gateways: [web]
  http:
    - route: [{destination: {host: web.shop.svc.cluster.local, port: {number: 9898}}}]
`;

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

test('up: every port status lists is listened on', { timeout: 120_000 }, async () => {
  const { dir, config, state } = meshDir('or-status-ports-', manifests);
  const up = upInProcess(['-f', config, '--ephemeral-ports', '--dir', state]);
  try {
    await up.until(/^mesh ready in /);
    const components = readState(state)?.components ?? [];
    const gateway = components.find((c) => c.kind === 'gateway');
    assert.ok(gateway?.ports['proxy:8080'], 'the server on 80 listens on 8080');
    assert.equal(gateway?.ports['proxy:8443'], undefined, 'no server on 443');
    for (const c of components) {
      if (c.kind === 'control-plane') continue;
      assert.equal(c.ports['proxy:15020'], undefined, `${c.name}: 15020 is not served`);
      for (const [name, port] of Object.entries(c.ports)) assert.ok(await listening(port), `${c.name}: ${name}=${port} is listed but nothing listens`);
    }
  } finally {
    await up.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
