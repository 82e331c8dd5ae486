// A gateway listener started anew for the same port (a server switched from plaintext to TLS and back:
// another kind of server) binds the host port its predecessor had, where the port map gives every
// port a free one (`up --ephemeral-ports`, `*=0`): clients and `outrigger status` keep the address.
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from './certs.ts';
import { hcm, listener, push, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let ca: string;
let cert: { cert: string; key: string };

const plain = (): TypedAny => listener('0.0.0.0_9080', 9080, [{ filter: hcm('http.9080') }]);
function secured(): TypedAny {
  const l = listener('0.0.0.0_9080', 9080, []);
  l['filter_chains'] = [
    {
      filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm('http.9080') }],
      transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': TypeUrl.DownstreamTlsContext, common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'web', sds_config: { ads: {} } }] } } },
    },
  ];
  return l;
}
const rest = (): TypedAny[] => [
  routeConfig('http.9080', [{ domains: ['*'], routes: [{ prefix: '/', direct: { status: 200, body: 'ok' } }] }]),
  { '@type': TypeUrl.Secret, name: 'web', tls_certificate: { certificate_chain: { inline_string: cert.cert }, private_key: { inline_string: cert.key } } },
];

function get(scheme: 'http' | 'https', port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, path: '/', headers: { host: 'web.example.com' }, agent: false };
    const done = (res: http.IncomingMessage) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    };
    const req = scheme === 'https' ? https.request({ ...options, servername: 'web.example.com', ca }, done) : http.request(options, done);
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  const authority = await makeCa('gateway-ca');
  ca = authority.ca;
  cert = await authority.issueWithSans([{ type: 'dns', value: 'web.example.com' }]);
  // Every port, 9080 included, maps to a free one: the port map of `up --ephemeral-ports`.
  env = await startProxy({ role: 'router' });
  push(env.proxy, [plain(), ...rest()]);
});

after(async () => {
  await env.close();
});

test('a listener switched from plaintext to TLS and back keeps its host port', async () => {
  const port = await env.port('0.0.0.0_9080');
  assert.equal(await get('http', port), 200);
  push(env.proxy, [secured(), ...rest()], 'v2');
  assert.equal(await env.port('0.0.0.0_9080'), port, 'the TLS listener binds the port the plaintext one had');
  assert.equal(await get('https', port), 200);
  push(env.proxy, [plain(), ...rest()], 'v3');
  assert.equal(await env.port('0.0.0.0_9080'), port, 'and back');
  assert.equal(await get('http', port), 200);
});
