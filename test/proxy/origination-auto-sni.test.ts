// TLS origination without `sni` (Istio's setAutoSniAndAutoSanValidation: upstream_http_protocol_options
// auto_sni + auto_san_validation): each HTTP request's host is the SNI and the name the certificate must
// hold, on connections of its own per host (Envoy keys its pools by these options). A wildcard
// ServiceEntry thus never sends `*.example.com`, and a host the certificate does not cover fails (UF).
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, hcm, listener, push, request, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let server: https.Server;
let h2server: http2.Http2SecureServer;
const sniSeen: string[] = [];

const HPO = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

function autoSni(name: string, http2 = false) {
  const base = cluster(name, { http2 });
  const hpo = (base['typed_extension_protocol_options'] as Record<string, Record<string, unknown>> | undefined)?.[HPO] ?? { '@type': TypeUrl.HttpProtocolOptions };
  return {
    ...base,
    typed_extension_protocol_options: { [HPO]: { ...hpo, upstream_http_protocol_options: { auto_sni: true, auto_san_validation: true } } },
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': TypeUrl.UpstreamTlsContext,
        common_tls_context: { combined_validation_context: { default_validation_context: {}, validation_context_sds_secret_config: { name: 'kubernetes://ext-cacert', sds_config: { ads: {} } } } },
      },
    },
  };
}

before(async () => {
  const ca = await makeCa('external-root');
  const pair = await ca.issueWithSans([{ type: 'dns', value: 'a.example.com' }, { type: 'dns', value: 'b.example.com' }]);
  server = https.createServer(pair, (req, res) => res.end(`${req.headers.host} via ${(req.socket as unknown as { servername?: string }).servername}`));
  server.on('secureConnection', (s) => sniSeen.push(String((s as unknown as { servername?: string }).servername)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  h2server = http2.createSecureServer(pair, (req, res) => res.end(`h2 ${req.headers[':authority']} via ${(req.socket as unknown as { servername?: string }).servername}`));
  await new Promise<void>((r) => h2server.listen(0, '127.0.0.1', r));
  env = await startProxy();
  push(env.proxy, [
    autoSni('outbound|443||*.example.com'),
    autoSni('outbound|443||h2.example.com', true),
    cla('outbound|443||*.example.com', [{ port: (server.address() as AddressInfo).port }]),
    cla('outbound|443||h2.example.com', [{ port: (h2server.address() as AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r') }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/h2', cluster: 'outbound|443||h2.example.com' }, { prefix: '/', cluster: 'outbound|443||*.example.com' }] }]),
    { '@type': TypeUrl.Secret, name: 'kubernetes://ext-cacert', validation_context: { trusted_ca: { inline_string: ca.ca } } },
  ]);
});

after(async () => {
  await env.close();
  server.close();
  h2server.close();
});

test('HTTP/1.1: each request host is the SNI (never the wildcard), one after the other on one endpoint', async () => {
  const port = await env.port('0.0.0.0_8080');
  for (const host of ['a.example.com', 'b.example.com', 'a.example.com']) {
    const res = await request(port, '/', { host });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.body, `${host} via ${host}`);
  }
  assert.ok(!sniSeen.some((s) => s.includes('*')), `SNI seen: ${sniSeen.join(', ')}`);
});

test('auto_san_validation: a host the certificate does not cover is refused (503 UF)', async () => {
  const res = await request(await env.port('0.0.0.0_8080'), '/', { host: 'c.example.com' });
  assert.equal(res.status, 503, res.body);
  assert.match(String(res.headers['x-envoy-response-flags'] ?? ''), /UF/);
});

test('HTTP/2: the request host is the SNI of its own session', async () => {
  const port = await env.port('0.0.0.0_8080');
  for (const host of ['a.example.com', 'b.example.com']) {
    const res = await request(port, '/h2', { host });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.body, `h2 ${host} via ${host}`);
  }
});
