// Secure naming through the mesh tunnel: a source sidecar accepts a destination only if its certificate
// names one of the service's accounts, as the cluster's mesh TLS context lists them. A workload holding a
// valid mesh certificate for another account cannot answer for the service: HTTP/1.1, HTTP/2 and TCP
// all fail as a connection failure (503 UF), and changing the names closes connections made under the old.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { REFUSED_PEER_GRACE_MS } from '../../src/proxy/tunnel/mesh-tls.ts';
import { transportFailureReason, type Upstream, UpstreamError, type UpstreamHead } from '../../src/proxy/upstream/upstream.ts';
import { FakeClock, until } from '../resilience/fake-clock.ts';
import { makeCa } from './certs.ts';
import { cla, closedPort, cluster, echoBackend, echoHandler, hcm, listener, push, rawExchange, request, routeConfig, startProxy, tcpProxy } from './harness.ts';

const PODINFO = 'spiffe://cluster.local/ns/podinfo/sa/podinfo';
const BILLING = 'spiffe://cluster.local/ns/billing/sa/billing';

const rootSecret = (ca: string): TypedAny => ({ '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca } } });

let client: Awaited<ReturnType<typeof startProxy>>;
let server: Awaited<ReturnType<typeof startProxy>>;
let app: Awaited<ReturnType<typeof echoBackend>>;
let tunnelPort: number;

const HTTP = 'outbound|9898||podinfo.podinfo.svc.cluster.local';
const IMPOSTOR = 'outbound|9898||billing.billing.svc.cluster.local';
const GRPC = 'outbound|9000||billing.billing.svc.cluster.local';
const TCP = 'outbound|5432||billing.billing.svc.cluster.local';
/** An HTTP/2 cluster to podinfo (as gRPC): its requests are streams on the tunnel session itself. */
const H2 = 'outbound|9001||podinfo.podinfo.svc.cluster.local';

/** The client's config: `podinfoSans` for the podinfo cluster; the billing clusters all expect billing's account. */
function clientConfig(podinfoSans: string[]): TypedAny[] {
  return [
    cluster(HTTP, { mtls: podinfoSans }),
    cluster(IMPOSTOR, { mtls: [BILLING] }),
    cluster(GRPC, { mtls: [BILLING], http2: true }),
    cluster(TCP, { mtls: [BILLING] }),
    cluster(H2, { mtls: podinfoSans, http2: true }),
    // Every billing endpoint is the podinfo sidecar's tunnel: a workload answering with podinfo's identity.
    cla(HTTP, [{ port: tunnelPort, mesh: { targetPort: 9898 } }]),
    cla(IMPOSTOR, [{ port: tunnelPort, mesh: { targetPort: 9898 } }]),
    cla(GRPC, [{ port: tunnelPort, mesh: { targetPort: 9898 } }]),
    cla(TCP, [{ port: tunnelPort, mesh: { targetPort: 9898 } }]),
    cla(H2, [{ port: tunnelPort, mesh: { targetPort: 9898 } }]),
    listener('virtualOutbound', 15001, [
      { port: 9898, filter: hcm('9898') },
      { port: 9000, filter: hcm('9000') },
      { port: 5432, filter: tcpProxy(TCP) },
      { port: 9001, filter: hcm('9001') },
    ]),
    routeConfig('9898', [
      { domains: ['podinfo.podinfo:9898'], routes: [{ prefix: '/', cluster: HTTP }] },
      { domains: ['billing.billing:9898'], routes: [{ prefix: '/', cluster: IMPOSTOR }] },
    ]),
    routeConfig('9000', [{ domains: ['*'], routes: [{ prefix: '/', cluster: GRPC }] }]),
    routeConfig('9001', [{ domains: ['*'], routes: [{ prefix: '/', cluster: H2 }] }]),
    rootSecret(ca.ca),
  ];
}

let ca: Awaited<ReturnType<typeof makeCa>>;
/** The source sidecar's timers: the grace after a rename runs on it. */
const clock = new FakeClock();
/** Requests to `/hold` the app never answers. */
let heldRequests = 0;

before(async () => {
  ca = await makeCa();
  const echo = echoHandler([]);
  app = await echoBackend((req, res) => {
    if (req.url === '/hold') heldRequests++;
    else if (req.url === '/stream') {
      // Half a response, then nothing: what the source has of it when its tunnel goes.
      heldRequests++;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part 1 of 2;');
    } else echo(req, res);
  });
  server = await startProxy({ nodeId: 'sidecar~127.0.0.1~podinfo.podinfo~podinfo.svc.cluster.local' });
  server.proxy.secrets.setLocal('default', await ca.issue(PODINFO));
  push(server.proxy, [
    cluster('inbound|9898||'),
    cla('inbound|9898||', [{ port: app.port }]),
    listener('virtualInbound', 15006, [{ port: 9898, filter: hcm('inbound|9898||') }]),
    listener('connect_terminate', 15008, []),
    routeConfig('inbound|9898||', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'inbound|9898||' }] }]),
    rootSecret(ca.ca),
  ]);
  tunnelPort = await server.port('connect_terminate');
  client = await startProxy({ metadata: { NAMESPACE: 'frontend', WORKLOAD_NAME: 'web', LABELS: { app: 'web' } }, timers: clock });
  client.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/frontend/sa/web'));
  push(client.proxy, clientConfig([PODINFO]));
});

after(async () => {
  await client.close();
  await server.close();
  app.server.close();
});

/** A counter of the source sidecar (`name: value` in its stats). */
function clientStat(name: string): number {
  const m = new RegExp(`^${name.replaceAll('.', '\\.').replaceAll('|', '\\|')}: (\\d+)$`, 'm').exec(client.proxy.metrics.renderStats());
  return m ? Number(m[1]) : 0;
}

test('HTTP/1.1 reaches a destination whose certificate names one of the service accounts', async () => {
  const out = await client.port('virtualOutbound');
  const res = await request(out, '/', { host: 'podinfo.podinfo:9898' });
  assert.equal(res.status, 200, res.body);
});

test('HTTP/1.1 to a service whose accounts the destination does not hold fails as a connection failure (503 UF)', async () => {
  const out = await client.port('virtualOutbound');
  const before = app.requests.length;
  const res = await request(out, '/', { host: 'billing.billing:9898' });
  assert.equal(res.status, 503);
  assert.equal(res.headers['x-envoy-response-flags'], 'UF');
  assert.ok(clientStat(`cluster.${IMPOSTOR}.upstream_cx_connect_fail`) >= 1);
  assert.equal(app.requests.length, before, 'the app never saw the request');
});

test('HTTP/2 (an http2 cluster, as gRPC) to the wrong identity fails the same way', async () => {
  const out = await client.port('virtualOutbound');
  const session = http2.connect(`http://127.0.0.1:${out}`);
  try {
    const { status, flags } = await new Promise<{ status: number; flags: unknown }>((resolve, reject) => {
      const req = session.request({ ':path': '/', ':authority': 'billing.billing:9000' });
      req.on('response', (h) => resolve({ status: h[':status'] as number, flags: h['x-envoy-response-flags'] }));
      req.on('error', reject);
      req.resume();
      req.end();
    });
    assert.equal(status, 503);
    assert.equal(flags, 'UF');
  } finally {
    session.close();
  }
  assert.ok(clientStat(`cluster.${GRPC}.upstream_cx_connect_fail`) >= 1);
});

test('TCP to the wrong identity is closed without a byte from the destination', async () => {
  const out = await client.port('virtualOutbound');
  const before = clientStat(`cluster.${TCP}.upstream_cx_connect_fail`);
  // The forward proxy accepts the CONNECT; the tunnel behind it never opens. (With the right identity
  // the app would answer these bytes with 400.)
  const reply = await rawExchange(out, 'CONNECT billing.billing:5432 HTTP/1.1\r\nhost: billing.billing:5432\r\n\r\nGET / HTTP/1.1\r\n\r\n');
  assert.equal(reply.replace(/^HTTP\/1.1 200 Connection Established\r\n\r\n/, ''), '', 'nothing from the destination');
  assert.equal(clientStat(`cluster.${TCP}.upstream_cx_connect_fail`), before + 1);
});

test('a request open when its destination loses its name is reset after the grace, not left running', async () => {
  push(client.proxy, clientConfig([PODINFO]), 'v4');
  const out = await client.port('virtualOutbound');
  const heldBefore = heldRequests;
  const held: { outcome?: string } = {};
  request(out, '/hold', { host: 'podinfo.podinfo:9898' }).then(
    (r) => (held.outcome = `${r.status} ${r.headers['x-envoy-response-flags']}`),
    (err: Error) => (held.outcome = err.message),
  );
  await until(() => heldRequests === heldBefore + 1, 'the app holds the request');
  push(client.proxy, clientConfig([BILLING]), 'v5');
  const refused = await request(out, '/', { host: 'podinfo.podinfo:9898' });
  assert.equal(refused.status, 503, 'a new request is checked against the new names at once');
  assert.equal(held.outcome, undefined, 'the open request has the grace to finish');
  clock.advance(REFUSED_PEER_GRACE_MS);
  await until(() => held.outcome !== undefined, 'the open request ends once the grace is over');
  assert.equal(held.outcome, '503 UC', 'the stream under it was reset: upstream connection termination');
  push(client.proxy, clientConfig([PODINFO]), 'v6');
});

test('a response cut short by a retired tunnel reaches the client as a reset, never as a complete response', async () => {
  push(client.proxy, clientConfig([PODINFO]), 'v7');
  const out = await client.port('virtualOutbound');
  const heldBefore = heldRequests;
  const session = http2.connect(`http://127.0.0.1:${out}`);
  try {
    let body = '';
    const outcome = new Promise<string>((resolve) => {
      const req = session.request({ ':path': '/stream', ':authority': 'podinfo.podinfo:9001' });
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => resolve(`ended cleanly with ${JSON.stringify(body)}`));
      req.on('error', () => {});
      req.on('close', () => resolve(`reset (code ${req.rstCode}) after ${JSON.stringify(body)}`));
      req.end();
    });
    await until(() => heldRequests === heldBefore + 1 && body !== '', 'the client has half the response');
    push(client.proxy, clientConfig([BILLING]), 'v8');
    clock.advance(REFUSED_PEER_GRACE_MS);
    assert.match(await outcome, /^reset \(code [1-9]\d*\) after "part 1 of 2;"$/);
  } finally {
    session.close();
  }
  push(client.proxy, clientConfig([PODINFO]), 'v9');
});

test('a narrowed list retires only the tunnels of peers it no longer names', async () => {
  push(client.proxy, clientConfig([PODINFO, BILLING]), 'v12');
  const out = await client.port('virtualOutbound');
  assert.equal((await request(out, '/', { host: 'podinfo.podinfo:9898' })).status, 200);
  const heldBefore = heldRequests;
  const held: { outcome?: string } = {};
  request(out, '/hold', { host: 'podinfo.podinfo:9898' }).then(
    (r) => (held.outcome = String(r.status)),
    (err: Error) => (held.outcome = err.message),
  );
  await until(() => heldRequests === heldBefore + 1, 'the app holds the request');
  const handshakes = serverStat('listener.0.0.0.0_15008.ssl.handshake');
  // Billing's account goes; podinfo's peer is still named.
  push(client.proxy, clientConfig([PODINFO]), 'v13');
  clock.advance(REFUSED_PEER_GRACE_MS);
  assert.equal((await request(out, '/', { host: 'podinfo.podinfo:9898' })).status, 200);
  assert.equal(held.outcome, undefined, 'the open request to a peer still named runs on');
  assert.equal(serverStat('listener.0.0.0.0_15008.ssl.handshake'), handshakes, 'its session serves on');
});

test('new names close connections made under the old ones: the next request is checked again', async () => {
  const out = await client.port('virtualOutbound');
  assert.equal((await request(out, '/', { host: 'podinfo.podinfo:9898' })).status, 200, 'a tunnel session is open');
  // The service's accounts change so the destination's identity is no longer among them.
  push(client.proxy, clientConfig([BILLING]), 'v2');
  const refused = await request(out, '/', { host: 'podinfo.podinfo:9898' });
  assert.equal(refused.status, 503, 'the session verified under the old names is gone');
  assert.equal(refused.headers['x-envoy-response-flags'], 'UF');
  push(client.proxy, clientConfig([BILLING, PODINFO]), 'v3');
  assert.equal((await request(out, '/', { host: 'podinfo.podinfo:9898' })).status, 200);
});

test('added names (a canary with a new account) leave the tunnel sessions alone', async () => {
  const out = await client.port('virtualOutbound');
  push(client.proxy, clientConfig([PODINFO]), 'v10');
  assert.equal((await request(out, '/', { host: 'podinfo.podinfo:9898' })).status, 200);
  const handshakes = serverStat('listener.0.0.0.0_15008.ssl.handshake');
  assert.ok(handshakes > 0);
  push(client.proxy, clientConfig([PODINFO, BILLING]), 'v11');
  assert.equal((await request(out, '/', { host: 'podinfo.podinfo:9898' })).status, 200);
  assert.equal(serverStat('listener.0.0.0.0_15008.ssl.handshake'), handshakes, 'the session verified before serves on');
});

/** A counter of the destination sidecar (`name: value` in its stats). */
function serverStat(name: string): number {
  const m = new RegExp(`^${name.replaceAll('.', '\\.')}: (\\d+)$`, 'm').exec(server.proxy.metrics.renderStats());
  return m ? Number(m[1]) : 0;
}

test("the access log's upstream transport failure reason names the refused identity; a refused connect says so plainly", async () => {
  const cluster = client.proxy.clusters.get(IMPOSTOR);
  assert.ok(cluster);
  const failure = (u: Upstream) =>
    new Promise<UpstreamError>((resolve, reject) => {
      const head: UpstreamHead = { method: 'GET', path: '/', authority: 'billing.billing:9898', scheme: 'http', headers: {} };
      u.request(head, null, { onHead: () => reject(new Error('answered')), onData: () => true, onEnd: () => {}, onError: resolve });
    });
  const tlsErr = await failure(cluster.upstream(cluster.endpoints[0] as (typeof cluster.endpoints)[number]));
  assert.equal(transportFailureReason(tlsErr), `TLS_error:MESH_PEER_IDENTITY:server identity ${PODINFO} is not one of the service's accounts (${BILLING})`);
  const refused = await failure(cluster.upstream({ key: 'closed', address: '127.0.0.1', port: await closedPort(), mesh: true }));
  assert.match(transportFailureReason(refused), /^connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
  // The HTTP/1.1 pool's own TLS sockets prefix the code to the message: it is written once.
  const cause = Object.assign(new Error('server identity x is not one'), { code: 'MESH_PEER_IDENTITY' });
  assert.equal(transportFailureReason(new UpstreamError('connect', 'MESH_PEER_IDENTITY: server identity x is not one', cause)), 'TLS_error:MESH_PEER_IDENTITY:server identity x is not one');
  assert.equal(transportFailureReason(new UpstreamError('connect', 'tls: the workload certificate is not ready')), 'tls: the workload certificate is not ready', 'no handshake happened: not a TLS error');
  assert.ok(transportFailureReason(new UpstreamError('connect', 'x'.repeat(1000))).length <= 256, 'an access-log field, not a report');
  // Node's own message, with its advice about system CAs dropped (and "unable to" left whole).
  const leaf = Object.assign(new Error('unable to verify the first certificate; if the root CA is installed locally, try running Node.js with --use-system-ca'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  assert.equal(transportFailureReason(new UpstreamError('connect', leaf.message, leaf)), 'TLS_error:UNABLE_TO_VERIFY_LEAF_SIGNATURE:unable to verify the first certificate');
});
