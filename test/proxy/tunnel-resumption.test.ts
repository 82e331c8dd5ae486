// TLS session resumption on the mesh tunnel's HTTP/1.1 pool, between real proxies: a new connection
// resumes with the peer's latest ticket (cheaper than a full handshake, which matters when
// max_requests_per_connection is small), the destination still knows the caller's SPIFFE ID on a resumed
// connection, and a new certificate on either side starts again with a full handshake.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from './harness.ts';

const rootSecret = (ca: string): TypedAny => ({ '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca } } });
const upstream = 'outbound|9898||podinfo.podinfo.svc.cluster.local';

let client: Awaited<ReturnType<typeof startProxy>>;
let server: Awaited<ReturnType<typeof startProxy>>;
let app: Awaited<ReturnType<typeof echoBackend>>;
let ca: Awaited<ReturnType<typeof makeCa>>;

before(async () => {
  ca = await makeCa();
  app = await echoBackend();
  server = await startProxy({ nodeId: 'sidecar~127.0.0.1~podinfo.podinfo~podinfo.svc.cluster.local' });
  server.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/podinfo/sa/podinfo'));
  push(server.proxy, [
    cluster('inbound|9898||'),
    cla('inbound|9898||', [{ port: app.port }]),
    listener('virtualInbound', 15006, [{ port: 9898, filter: hcm('inbound|9898||') }]),
    listener('connect_terminate', 15008, []),
    routeConfig('inbound|9898||', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'inbound|9898||' }] }]),
    rootSecret(ca.ca),
  ]);
  const tunnelPort = await server.port('connect_terminate');
  client = await startProxy({});
  client.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/frontend/sa/web'));
  push(client.proxy, [
    // One request per connection: every request opens a tunnel connection (the seed's podinfo rule has 2).
    {
      ...cluster(upstream),
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': TypeUrl.HttpProtocolOptions,
          common_http_protocol_options: { max_requests_per_connection: { value: 1 } },
          explicit_http_config: { http_protocol_options: {} },
        },
      },
    },
    cla(upstream, [{ port: tunnelPort, mesh: { targetPort: 9898 } }]),
    listener('virtualOutbound', 15001, [{ port: 9898, filter: hcm('9898') }]),
    routeConfig('9898', [{ domains: ['podinfo.podinfo:9898'], routes: [{ prefix: '/', cluster: upstream }] }]),
    rootSecret(ca.ca),
  ]);
});

after(async () => {
  await client.close();
  await server.close();
  app.server.close();
});

/** The server tunnel's `handshake` or `session_reused` counter. */
function tunnelStat(stat: 'handshake' | 'session_reused'): number {
  const m = new RegExp(`envoy_listener_ssl_${stat}\\{envoy_listener_address="0\\.0\\.0\\.0_15008"\\} (\\d+)`).exec(server.proxy.metrics.renderPrometheus());
  return Number(m?.[1] ?? 0);
}

/** One request through the client's forward proxy; returns the caller identity the app was told. */
async function call(path: string): Promise<string> {
  const res = await request(await client.port('virtualOutbound'), `http://podinfo.podinfo:9898${path}`, { host: 'podinfo.podinfo:9898' });
  assert.equal(res.status, 200, res.body);
  const seen = JSON.parse(res.body) as { headers: Record<string, string> };
  return /;URI=(spiffe:\/\/[^;,"]+)$/.exec(seen.headers['x-forwarded-client-cert'] ?? '')?.[1] ?? '';
}

test('new tunnel connections resume the session, and the destination still knows the caller on each', async () => {
  const handshakes = tunnelStat('handshake');
  const reused = tunnelStat('session_reused');
  for (let i = 0; i < 4; i++) assert.equal(await call(`/r${i}`), 'spiffe://cluster.local/ns/frontend/sa/web');
  assert.equal(tunnelStat('handshake') - handshakes, 4, 'one connection per request');
  assert.ok(tunnelStat('session_reused') - reused >= 3, `at most the first was a full handshake (${tunnelStat('session_reused') - reused} resumed)`);
});

test("a new client certificate starts with a full handshake, and the destination sees the new certificate's identity", async () => {
  await call('/warm');
  client.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/frontend/sa/web-v2'));
  const reused = tunnelStat('session_reused');
  assert.equal(await call('/after-client-rotation'), 'spiffe://cluster.local/ns/frontend/sa/web-v2');
  assert.equal(tunnelStat('session_reused'), reused, 'the old ticket was not offered with the new context');
  assert.equal(await call('/then'), 'spiffe://cluster.local/ns/frontend/sa/web-v2');
  assert.equal(tunnelStat('session_reused'), reused + 1, 'the next connection resumes the new session');
});

test('a new server certificate makes earlier tickets unusable: the next connection is a full handshake', async () => {
  await call('/warm');
  server.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/podinfo/sa/podinfo'));
  const reused = tunnelStat('session_reused');
  const handshakes = tunnelStat('handshake');
  await call('/after-server-rotation');
  assert.equal(tunnelStat('handshake'), handshakes + 1);
  assert.equal(tunnelStat('session_reused'), reused, 'a ticket from the old server context did not resume');
});
