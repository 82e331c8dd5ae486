// A resumed TLS 1.3 session runs no SNICallback; it is served by its server name's chain (a session
// resumes only with the context that made it).
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, echoBackend, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
const dtls = (): TypedAny => ({ '@type': TypeUrl.DownstreamTlsContext, common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'web', sds_config: { ads: {} } }], alpn_protocols: ['http/1.1'] } });
before(async () => {
  const server = await makeCa('server-ca');
  const web = await server.issueWithSans([{ type: 'dns', value: 'a.example.com' }]);
  backend = await echoBackend();
  env = await startProxy({ role: 'router' });
  const gw = listener('0.0.0.0_8443', 8443, []);
  gw['filter_chains'] = [{ filter_chain_match: { server_names: ['a.example.com'] }, filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm('r') }], transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: dtls() } }];
  push(env.proxy, [cluster('b'), cla('b', [{ port: backend.port }]), gw, routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'b' }] }]),
    { '@type': TypeUrl.Secret, name: 'web', tls_certificate: { certificate_chain: { inline_string: web.cert }, private_key: { inline_string: web.key } } }]);
});
after(async () => { await env?.close(); backend?.server.close(); });

function once(port: number, ver: tls.SecureVersion, session?: Buffer): Promise<{ r: string; session: Buffer | undefined; reused: boolean }> {
  return new Promise((resolve) => {
    let sess: Buffer | undefined; let ru = false;
    const t = tls.connect({ host: '127.0.0.1', port, servername: 'a.example.com', rejectUnauthorized: false, minVersion: ver, maxVersion: ver, ALPNProtocols: ['http/1.1'], ...(session ? { session } : {}) });
    t.on('session', (s) => (sess = s));
    t.on('error', () => {});
    t.once('secureConnect', () => { ru = t.isSessionReused(); } ); t.once('secureConnect', () => t.write('GET / HTTP/1.1\r\nhost: a.example.com\r\n\r\n'));
    t.on('data', (d: Buffer) => { const reused = ru; setTimeout(() => { resolve({ r: 'answered ' + d.toString('latin1').split('\r\n')[0], session: sess, reused }); t.destroy(); }, 50); });
    t.on('close', () => resolve({ r: 'closed', session: sess, reused: ru }));
  });
}
for (const ver of ['TLSv1.3'] as const) {
  test(`${ver} resumed session with SNI is served`, async () => {
    const port = await env.port('0.0.0.0_8443');
    const a = await once(port, ver);
    assert.match(a.r, /answered HTTP\/1.1 200/);
    assert.ok(a.session, 'got session');
    const b = await once(port, ver, a.session);
    assert.ok(b.reused, 'resumed');
    assert.match(b.r, /answered HTTP\/1.1 200/, `resumed ${ver}: ${b.r}`);
  });
}
