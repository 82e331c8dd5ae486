// A chain whose secret has not arrived yet fails the handshake for its server name: the handshake never
// falls back to the listener's default certificate and CA, whose chain would then serve a client it never checked.
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, echoBackend, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
let clientX: { cert: string; key: string };
const dtls = (secret: string, caPem: string): TypedAny => ({ '@type': TypeUrl.DownstreamTlsContext, require_client_certificate: true,
  common_tls_context: { tls_certificate_sds_secret_configs: [{ name: secret, sds_config: { ads: {} } }], alpn_protocols: ['http/1.1'], validation_context: { trusted_ca: { inline_string: caPem } } } });
before(async () => {
  const server = await makeCa('server-ca');
  const web = await server.issueWithSans([{ type: 'dns', value: 'a.example.com' }]);
  const caH = await makeCa('ca-h'); const caX = await makeCa('ca-x');
  clientX = await caX.issueWithSans([{ type: 'dns', value: 'client.x' }]);
  backend = await echoBackend();
  env = await startProxy({ role: 'router' });
  const gw = listener('0.0.0.0_8443', 8443, []);
  gw['filter_chains'] = [
    // a.example.com: only CA-H clients; its certificate's secret 'web-a' has not arrived (yet)
    { filter_chain_match: { server_names: ['a.example.com'] }, filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm('a') }], transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: dtls('web-a', caH.ca) } },
    // no-SNI default: CA-X clients, no routes
    { filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm('def') }], transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: dtls('web', caX.ca) } },
  ];
  push(env.proxy, [cluster('b'), cla('b', [{ port: backend.port }]), gw,
    routeConfig('a', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'b' }] }]), routeConfig('def', [{ domains: ['*'], routes: [] }]),
    { '@type': TypeUrl.Secret, name: 'web', tls_certificate: { certificate_chain: { inline_string: web.cert }, private_key: { inline_string: web.key } } }]);
});
after(async () => { await env?.close(); backend?.server.close(); });

test('SNI chain whose secret is missing: no fallback to the default context (a CA-X client never reaches the CA-H chain)', async () => {
  const port = await env.port('0.0.0.0_8443');
  const r = await new Promise<string>((resolve) => {
    const req = https.request({ host: '127.0.0.1', port, servername: 'a.example.com', path: '/', headers: { host: 'a.example.com' }, rejectUnauthorized: false, agent: false, cert: clientX.cert, key: clientX.key }, (res) => { res.resume(); resolve(String(res.statusCode)); });
    req.on('error', (e) => resolve('error ' + e.message));
    req.end();
  });
  assert.doesNotMatch(r, /^200$/, `CA-X client served by the CA-H chain (handshake fell back to the default context): ${r}`);
});
