// A sidecar resetting streams it refuses itself (plaintext at a STRICT port) must not count them as the
// peer's premature resets: the service proxy shares one tunnel session per pod among all clients without
// a sidecar, and past the rapid-reset bound the session was torn down, taking other clients' requests
// to the pod's PERMISSIVE ports with it. Real tunnel server, real service proxy, real HTTP clients.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { FilterChain } from '../../src/proxy/listener/compile-listener.ts';
import { PREMATURE_RESET_MIN_STREAMS } from '../../src/proxy/listener/h2-abuse.ts';
import { TunnelServer } from '../../src/proxy/tunnel/tunnel-server.ts';
import { PlaintextTunnels } from '../../src/runtime/service-proxy/plaintext-tunnel.ts';
import { ServiceEndpoints } from '../../src/runtime/service-proxy/service-endpoints.ts';
import { ServiceProxy } from '../../src/runtime/service-proxy/service-proxy.ts';
import { makeCa } from '../proxy/certs.ts';

test("a sidecar's own refusals of plaintext streams are not the peer's premature resets: the shared session lives on", { timeout: 120_000 }, async () => {
  const ca = await makeCa();
  const sidecar = await ca.issue('spiffe://cluster.local/ns/app/sa/app');
  const kubeProxy = await ca.issue('spiffe://cluster.local/ns/kube-system/sa/kube-proxy');
  let answerSlow: (() => void) | undefined;
  let arrived: () => void = () => {};
  const slowArrived = new Promise<void>((r) => (arrived = r));
  const tunnel = new TunnelServer(0, {
    material: () => ({ ...sidecar, ca: ca.ca }),
    // Port 80 is STRICT (no chain for plaintext), 8080 PERMISSIVE.
    inboundChain: (port, _kind, transport) => (transport === 'raw_buffer' && port === 80 ? undefined : ({ name: 'http', handler: { kind: 'http' } } as unknown as FilterChain)),
    serveStream: () => {},
    serveRequest: (_chain, _conn, _req, res) => {
      // Held until the test has sent the refused ones.
      answerSlow = () => (res as unknown as http.ServerResponse).writeHead(200, { 'content-length': 4 }).end('slow');
      arrived();
    },
  });
  const tunnelPort = await tunnel.boundPort;
  // Two Services on one pod: `strict` to its port 80, `open` to its port 8080.
  const services = loadText(
    `apiVersion: v1
kind: Service
metadata: {name: strict, namespace: app}
spec: {selector: {app: app}, ports: [{name: http, port: 80, targetPort: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: open, namespace: app}
spec: {selector: {app: app}, ports: [{name: http, port: 8080, targetPort: 8080}]}
`,
    'services.yaml',
  ).resources;
  const pod = { name: 'app-0', namespace: 'app', labels: { app: 'app' }, serviceAccount: 'app', address: '10.0.0.1', appPorts: { 80: 80, 8080: 8080 }, tunnelAddress: `127.0.0.1:${tunnelPort}`, healthy: true, source: 'deployment' as const };
  const snapshot = buildSnapshot(services, [pod], 'v1');
  const proxy = new ServiceProxy({ endpoints: new ServiceEndpoints(() => snapshot), tunnels: new PlaintextTunnels(() => ({ key: kubeProxy.key, cert: kubeProxy.cert, ca: ca.ca })) });
  const url = new URL(await proxy.urlFor('default'));
  const get = (host: string) =>
    new Promise<string>((resolve) => {
      const req = http.request({ host: url.hostname, port: url.port, path: `http://${host}/`, agent: false });
      req.on('response', (r) => {
        let body = '';
        r.on('data', (c) => (body += c));
        r.on('end', () => resolve(`${r.statusCode} ${body}`));
        r.on('error', () => resolve('cut'));
      });
      req.on('error', (e: NodeJS.ErrnoException) => resolve(`reset ${e.code}`));
      req.end();
    });
  try {
    const slow = get('open.app:8080');
    await slowArrived;
    // More refusals than the rapid-reset bound lets a peer have, all on the session `slow` is on.
    let refused = 0;
    for (let sent = 0; sent < PREMATURE_RESET_MIN_STREAMS + 100; sent += 50) {
      const rs = await Promise.all(Array.from({ length: 50 }, () => get('strict.app')));
      refused += rs.filter((r) => r === 'reset ECONNRESET').length;
    }
    assert.equal(refused, PREMATURE_RESET_MIN_STREAMS + 100, 'each plaintext request at the STRICT port is reset');
    answerSlow?.();
    assert.equal(await slow, '200 slow');
  } finally {
    await proxy.close();
    tunnel.close();
  }
});
