// In local mode a wildcard listener is bound on 127.0.0.1: `bind: "::"` (the IPv6 wildcard, dual-stack
// on Linux) and the IPv4-mapped `::ffff:0.0.0.0` as much as no bind or 0.0.0.0, so a Gateway cannot
// open the ingress on every interface.
import assert from 'node:assert/strict';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { after, before, test } from 'node:test';
import { echoBackend, push, startProxy } from './harness.ts';
import { resourcesOf } from './gateway-tls-fixture.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let app: Awaited<ReturnType<typeof echoBackend>>;

before(async () => {
  app = await echoBackend();
  env = await startProxy({ role: 'router' });
  push(env.proxy, resourcesOf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: app}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      bind: "::"
      hosts: [a.example.com]
    - port: {number: 81, name: http-mapped, protocol: HTTP}
      bind: "::ffff:0.0.0.0"
      hosts: [a.example.com]
    - port: {number: 82, name: http-mapped-hex, protocol: HTTP}
      bind: "::ffff:0:0"
      hosts: [a.example.com]
`));
});
after(async () => {
  await env?.close();
  app?.server.close();
});

const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

for (const bind of ['::', '::ffff:0.0.0.0', '::ffff:0:0']) {
  test(`bind "${bind}" stays off the host's external addresses`, { skip: !external }, async () => {
    const bound = await env.proxy.listeners.boundPorts();
    const name = Object.keys(bound).find((n) => n.startsWith(`${bind}_`));
    assert.ok(name, JSON.stringify(bound));
    const port = bound[name] as number;
    const reached = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: external, port }, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    assert.equal(reached, false, `listener ${name} answers on ${external}:${port}`);
  });
}
