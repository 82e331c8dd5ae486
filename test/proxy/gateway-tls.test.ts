// A gateway TLS listener: certificates from SDS secrets chosen by SNI (filter_chain_match
// server_names), HTTP/1.1 and HTTP/2 over ALPN.
import assert from 'node:assert/strict';
import https from 'node:https';
import http2 from 'node:http2';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, echoBackend, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
let ca: string;

const downstreamTls = (secret: string): TypedAny => ({
  '@type': TypeUrl.DownstreamTlsContext,
  common_tls_context: { tls_certificate_sds_secret_configs: [{ name: secret, sds_config: { ads: {} } }], alpn_protocols: ['h2', 'http/1.1'] },
});

before(async () => {
  const authority = await makeCa('gateway-ca');
  ca = authority.ca;
  const a = await authority.issue('spiffe://cluster.local/ns/istio-system/sa/a');
  const b = await authority.issue('spiffe://cluster.local/ns/istio-system/sa/b');
  backend = await echoBackend();
  env = await startProxy({ role: 'router' });
  const chain = (sni: string, secret: string) => ({
    filter_chain_match: { server_names: [sni] },
    filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm('https.8443') }],
    transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: downstreamTls(secret) },
  });
  const gw = listener('0.0.0.0_8443', 8443, []);
  gw['filter_chains'] = [chain('a.example.com', 'cert-a'), chain('b.example.com', 'cert-b')];
  push(env.proxy, [
    cluster('b'),
    cla('b', [{ port: backend.port }]),
    gw,
    routeConfig('https.8443', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'b' }] }]),
    { '@type': TypeUrl.Secret, name: 'cert-a', tls_certificate: { certificate_chain: { inline_string: a.cert }, private_key: { inline_string: a.key } } },
    { '@type': TypeUrl.Secret, name: 'cert-b', tls_certificate: { certificate_chain: { inline_string: b.cert }, private_key: { inline_string: b.key } } },
  ]);
});

after(async () => {
  await env.close();
  backend.server.close();
});

test('SNI picks the chain and its certificate; HTTP/1.1 over TLS reaches the backend', async () => {
  const port = await env.port('0.0.0.0_8443');
  for (const [sni, sa] of [
    ['a.example.com', 'sa/a'],
    ['b.example.com', 'sa/b'],
  ] as const) {
    const { status, san, scheme } = await new Promise<{ status: number; san: string; scheme: string }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, servername: sni, path: '/tls', ca, headers: { host: sni }, checkServerIdentity: () => undefined, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => {
          const san = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().subjectaltname ?? '';
          resolve({ status: res.statusCode ?? 0, san, scheme: (JSON.parse(body) as { headers: Record<string, string> }).headers['x-forwarded-proto'] ?? '' });
        });
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 200);
    assert.match(san, new RegExp(sa));
    assert.equal(scheme, 'https');
  }
});

test('HTTP/2 over TLS with ALPN h2', async () => {
  const port = await env.port('0.0.0.0_8443');
  const s = http2.connect(`https://127.0.0.1:${port}`, { servername: 'a.example.com', ca, checkServerIdentity: () => undefined });
  s.on('error', () => {});
  const status = await new Promise<number>((resolve) => {
    const r = s.request({ ':path': '/', ':authority': 'a.example.com' });
    r.on('response', (h) => resolve(Number(h[':status'])));
    r.on('error', () => resolve(0));
    r.resume();
  });
  s.close();
  assert.equal(status, 200);
});
