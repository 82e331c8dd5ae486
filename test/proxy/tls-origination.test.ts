// TLS origination (DestinationRule `tls.mode: SIMPLE`, credentialName as SDS secrets): the proxy speaks
// TLS to an endpoint outside the tunnel, sends the SNI, trusts only the given CA and checks the SANs; a
// server presenting other SANs, or a trust bundle that has not arrived, fails the request instead of
// sending it in plaintext or unverified.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, hcm, listener, push, request, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let server: https.Server;
let h2server: http2.Http2SecureServer;
const sniSeen: string[] = [];

function originating(name: string, san: string, caSecret: string, http2 = false): TypedAny {
  return {
    ...cluster(name, { http2 }),
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': TypeUrl.UpstreamTlsContext,
        sni: 'api.example.com',
        common_tls_context: {
          combined_validation_context: {
            default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: san } }] },
            validation_context_sds_secret_config: { name: caSecret, sds_config: { ads: {} } },
          },
        },
      },
    },
  };
}

before(async () => {
  const ca = await makeCa('external-root');
  const pair = await ca.issue('spiffe://external/api');
  server = https.createServer({ ...pair }, (req, res) => res.end(`secure ${req.url}`));
  server.on('secureConnection', (s) => sniSeen.push(String((s as unknown as { servername?: string }).servername)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  // An HTTP/2-only server (gRPC's kind): an h2 cluster must speak h2 in the rule's TLS, never h2c.
  h2server = http2.createSecureServer({ ...pair }, (req, res) => res.end(`secure h2 ${req.url} ${(req.socket as unknown as { servername?: string }).servername}`));
  await new Promise<void>((r) => h2server.listen(0, '127.0.0.1', r));
  const h2port = (h2server.address() as AddressInfo).port;
  env = await startProxy();
  push(env.proxy, [
    originating('outbound|443||api', 'spiffe://external/api', 'kubernetes://api-cacert'),
    originating('outbound|443||wrong-san', 'spiffe://external/other', 'kubernetes://api-cacert'),
    originating('outbound|443||no-ca', 'spiffe://external/api', 'kubernetes://missing-cacert'),
    originating('outbound|443||api-h2', 'spiffe://external/api', 'kubernetes://api-cacert', true),
    cla('outbound|443||api', [{ port }]),
    cla('outbound|443||wrong-san', [{ port }]),
    cla('outbound|443||no-ca', [{ port }]),
    cla('outbound|443||api-h2', [{ port: h2port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r') }]),
    routeConfig('r', [
      {
        domains: ['*'],
        routes: [
          { prefix: '/wrong', cluster: 'outbound|443||wrong-san' },
          { prefix: '/noca', cluster: 'outbound|443||no-ca' },
          { prefix: '/h2', cluster: 'outbound|443||api-h2' },
          { prefix: '/', cluster: 'outbound|443||api' },
        ],
      },
    ]),
    { '@type': TypeUrl.Secret, name: 'kubernetes://api-cacert', validation_context: { trusted_ca: { inline_string: ca.ca } } },
  ]);
});

after(async () => {
  await env.close();
  server.close();
  h2server.close();
});

test('a SIMPLE cluster reaches the server over verified TLS with the configured SNI', async () => {
  const res = await request(await env.port('0.0.0.0_8080'), '/hello', { host: 'api.example.com' });
  assert.equal(res.status, 200, res.body);
  assert.equal(res.body, 'secure /hello');
  assert.ok(sniSeen.includes('api.example.com'), `SNI seen: ${sniSeen.join(', ')}`);
});

test('a server presenting none of the expected SANs is refused (503 UF), never used', async () => {
  const res = await request(await env.port('0.0.0.0_8080'), '/wrong', { host: 'api.example.com' });
  assert.equal(res.status, 503);
  assert.match(String(res.headers['x-envoy-response-flags'] ?? ''), /UF/);
});

test('without its trust bundle the cluster fails closed (503 UF)', async () => {
  const res = await request(await env.port('0.0.0.0_8080'), '/noca', { host: 'api.example.com' });
  assert.equal(res.status, 503);
  assert.match(String(res.headers['x-envoy-response-flags'] ?? ''), /UF/);
});

test('an HTTP/2 cluster speaks h2 in the rule’s TLS (ALPN h2, the SNI, the CA), never h2c', async () => {
  const res = await request(await env.port('0.0.0.0_8080'), '/h2/hello', { host: 'api.example.com' });
  assert.equal(res.status, 200, res.body);
  assert.equal(res.body, 'secure h2 /h2/hello api.example.com');
});

test("the clusters' SDS secrets are subscribed to, as Envoy's cluster TLS contexts ask for them", () => {
  const names = env.proxy.xds.resourceNames(TypeUrl.Secret) ?? [];
  for (const name of ['ROOTCA', 'kubernetes://api-cacert', 'kubernetes://missing-cacert']) assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
});
