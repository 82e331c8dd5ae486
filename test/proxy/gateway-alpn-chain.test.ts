// A 'tls' port with two MUTUAL chains for one server name that differ by ALPN: [h2] trusting CA-H and
// one without application_protocols trusting CA-X. The handshake's context is chosen by SNI alone (the
// CA-X chain's); the negotiated ALPN would pick the [h2] chain to serve. Envoy's tls_inspector fixes the
// chain from SNI and ALPN at once, so a CA-X client never reaches the chain that trusts only CA-H.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, echoBackend, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
let clientX: { cert: string; key: string };

const dtls = (secret: string, caPem: string): TypedAny => ({
  '@type': TypeUrl.DownstreamTlsContext,
  require_client_certificate: true,
  common_tls_context: { tls_certificate_sds_secret_configs: [{ name: secret, sds_config: { ads: {} } }], alpn_protocols: ['h2', 'http/1.1'], validation_context: { trusted_ca: { inline_string: caPem } } },
});

before(async () => {
  const server = await makeCa('server-ca');
  const web = await server.issueWithSans([{ type: 'dns', value: 'a.example.com' }]);
  const caH = await makeCa('ca-h2-only');
  const caX = await makeCa('ca-x');
  clientX = await caX.issueWithSans([{ type: 'dns', value: 'client.x' }]);
  backend = await echoBackend();
  env = await startProxy({ role: 'router' });
  const chain = (route: string, caPem: string, alpn?: string[]) => ({
    filter_chain_match: { server_names: ['a.example.com'], ...(alpn ? { application_protocols: alpn } : {}) },
    filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm(route) }],
    transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: dtls('web', caPem) },
  });
  const gw = listener('0.0.0.0_8443', 8443, []);
  gw['filter_chains'] = [chain('h2only', caH.ca, ['h2']), chain('plain', caX.ca)];
  push(env.proxy, [
    cluster('b'),
    cla('b', [{ port: backend.port }]),
    gw,
    routeConfig('h2only', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'b' }] }]),
    routeConfig('plain', [{ domains: ['*'], routes: [] }]),
    { '@type': TypeUrl.Secret, name: 'web', tls_certificate: { certificate_chain: { inline_string: web.cert }, private_key: { inline_string: web.key } } },
  ]);
});
after(async () => {
  await env?.close();
  backend?.server.close();
});

test('a CA-X client offering h2 is never served by the [h2] chain that trusts only CA-H', async () => {
  const port = await env.port('0.0.0.0_8443');
  const status = await new Promise<string>((resolve) => {
    const s = http2.connect(`https://127.0.0.1:${port}`, { servername: 'a.example.com', rejectUnauthorized: false, cert: clientX.cert, key: clientX.key });
    s.on('error', (e) => resolve('error ' + e.message));
    // Refused after its handshake, the session closes without an answer.
    s.on('close', () => resolve('closed'));
    const req = s.request({ ':path': '/', ':authority': 'a.example.com' });
    req.on('response', (h) => {
      resolve(String(h[':status']));
      s.close();
    });
    req.on('error', (e) => resolve('error ' + e.message));
    req.end();
  });
  assert.doesNotMatch(status, /^200$/, `CA-X client served by the CA-H [h2] chain: status ${status}`);
});
