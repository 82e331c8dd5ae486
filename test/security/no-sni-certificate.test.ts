// A client that sends no SNI is served by the chain that matches no server name, and gets that chain's
// certificate; before, it got the first TLS chain's (another host's) certificate and was then routed
// to the catch-all chain. With no chain for it, the handshake fails.
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from '../proxy/certs.ts';
import { cla, cluster, echoBackend, hcm, push, routeConfig, startProxy } from '../proxy/harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;

const sds = (name: string) => ({ name, sds_config: { ads: {} } });
const tlsSocket = (secret: string) => ({ name: 'envoy.transport_sockets.tls', typed_config: { '@type': TypeUrl.DownstreamTlsContext, common_tls_context: { tls_certificate_sds_secret_configs: [sds(secret)] } } });
const http = { name: 'envoy.filters.network.http_connection_manager', typed_config: hcm('r') };

before(async () => {
  const ca = await makeCa('gw-ca');
  const a = await ca.issueWithSans([{ type: 'dns', value: 'a.example.com' }]);
  const b = await ca.issueWithSans([{ type: 'dns', value: 'catch-all.example.com' }]);
  backend = await echoBackend();
  env = await startProxy({ role: 'router' });
  const secret = (name: string, c: { cert: string; key: string }) => ({ '@type': TypeUrl.Secret, name, tls_certificate: { certificate_chain: { inline_string: c.cert }, private_key: { inline_string: c.key } } });
  const listener = (name: string, port: number, chains: Record<string, unknown>[]) => ({ '@type': TypeUrl.Listener, name, address: { socket_address: { address: '0.0.0.0', port_value: port } }, filter_chains: chains });
  push(env.proxy, [
    cluster('b'),
    cla('b', [{ port: backend.port }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'b', timeout: { seconds: '0' } }] }]),
    secret('cert-a', a),
    secret('cert-b', b),
    listener('mixed', 8443, [
      { filter_chain_match: { server_names: ['a.example.com'] }, filters: [http], transport_socket: tlsSocket('cert-a') },
      { filters: [http], transport_socket: tlsSocket('cert-b') },
    ]),
    listener('sni-only', 9443, [{ filter_chain_match: { server_names: ['a.example.com'] }, filters: [http], transport_socket: tlsSocket('cert-a') }]),
  ]);
});

after(async () => {
  await env.close();
  backend.server.closeAllConnections();
  backend.server.close();
});

/** The certificate's DNS names a client sending no SNI (it connects to an IP address) is shown, or the handshake's error. */
function peerNames(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    s.once('secureConnect', () => {
      resolve(s.getPeerCertificate().subjectaltname ?? '');
      s.destroy();
    });
    s.once('error', (err) => resolve(`error: ${err.message}`));
  });
}

test('no SNI: the certificate of the chain that serves it, not the first chain\'s', async () => {
  assert.equal(await peerNames(await env.port('mixed')), 'DNS:catch-all.example.com');
});

test('no SNI and no chain without server names: the handshake fails', async () => {
  assert.match(await peerNames(await env.port('sni-only')), /^error: /);
});
