// A Gateway server's `bind`, translated into a real router proxy: its listener listens on that address
// only, beside the wildcard one on the same port; an address the host does not have is refused for that
// listener (the LDS update is NACKed with Envoy's reason), never widened to every address.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { appEntry, resourcesOf, routeToApp } from './gateway-tls-fixture.ts';
import { echoBackend, push, startProxy } from './harness.ts';

const yaml = (appPort: number, bind: string) => `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: app}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: [public.example.com]
    - port: {number: 80, name: http-internal, protocol: HTTP}
      bind: ${bind}
      hosts: [internal.example.com]
---
${appEntry(appPort)}---
${routeToApp('app', ['public.example.com', 'internal.example.com'])}`;

const resources = (appPort: number, bind: string) => resourcesOf(yaml(appPort, bind));

function status(address: string, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: address, port, path: '/', headers: { host }, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

test('a server bound to 127.0.0.2 is served on that address, its hosts through route http.8080.127.0.0.2', async () => {
  const app = await echoBackend();
  const env = await startProxy({ role: 'router' });
  try {
    push(env.proxy, resources(app.port, '127.0.0.2'));
    const bound = await env.port('127.0.0.2_8080');
    const statuses = await env.proxy.listeners.listenerStatuses();
    assert.deepEqual(statuses.find((s) => s.name === '127.0.0.2_8080'), { name: '127.0.0.2_8080', address: '127.0.0.2', port: bound });
    assert.equal(await status('127.0.0.2', bound, 'internal.example.com'), 200);
    assert.equal(await status('127.0.0.2', bound, 'public.example.com'), 404, 'the wildcard listener\'s hosts are not on this one');
  } finally {
    await env.close();
    app.server.close();
  }
});

test('a bind address the host does not have is refused for its listener, with the address in the reason', async () => {
  const app = await echoBackend();
  const env = await startProxy({ role: 'router' });
  try {
    // TEST-NET-1 (RFC 5737): never a local address.
    const listeners = resources(app.port, '192.0.2.1').filter((r) => r['@type'] === TypeUrl.Listener);
    await assert.rejects(Promise.resolve(env.proxy.xds.apply(TypeUrl.Listener, listeners, 'v1')), (err: Error) => /192\.0\.2\.1_8080: cannot bind '192\.0\.2\.1:8080'/.test(err.message));
    await assert.rejects(env.port('192.0.2.1_8080'));
    assert.ok(await env.port('0.0.0.0_8080'), 'the other listener is bound');
  } finally {
    await env.close();
    app.server.close();
  }
});
