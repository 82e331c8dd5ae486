// Refused mTLS handshakes on the mesh tunnel are counted in the proxy's Prometheus output with Envoy's
// names: no client certificate and a SAN that is not a SPIFFE ID.
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa, type TestCa } from '../proxy/certs.ts';
import { listener, push, startProxy } from '../proxy/harness.ts';

let ca: TestCa;
let env: Awaited<ReturnType<typeof startProxy>>;
let tunnel: number;

before(async () => {
  ca = await makeCa();
  env = await startProxy({ nodeId: 'sidecar~127.0.0.1~api-0.shop~shop.svc.cluster.local' });
  env.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/shop/sa/api'));
  push(env.proxy, [listener('connect_terminate', 15008, []), { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } }]);
  tunnel = await env.port('connect_terminate');
});

after(async () => {
  await env?.close();
});

/** One client handshake; resolves when the server has ended the connection (or it completes and closes). */
function connect(opts: tls.ConnectionOptions): Promise<void> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: tunnel, ca: ca.ca, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined, ...opts });
    const timer = setTimeout(() => s.destroy(), 5_000);
    s.on('error', () => {});
    s.on('secureConnect', () => s.write('x'));
    s.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    s.on('data', () => {});
  });
}

async function counter(stat: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${env.admin}/stats/prometheus`)).text();
  const m = text.match(new RegExp(`^envoy_listener_ssl_${stat}\\{envoy_listener_address="0\\.0\\.0\\.0_15008"\\} (\\d+)`, 'm'));
  return m ? Number(m[1]) : 0;
}

/** Polls the counter (bounded) until it reaches `want`: the server counts after the client sees the close. */
async function waitFor(stat: string, want: number): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const v = await counter(stat);
    if (v >= want) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  return counter(stat);
}

test('no client certificate (TLS 1.3 and 1.2) counts fail_verify_no_cert', async () => {
  await connect({ maxVersion: 'TLSv1.3' });
  await connect({ maxVersion: 'TLSv1.2' });
  assert.equal(await waitFor('fail_verify_no_cert', 2), 2);
});

// An untrusted or expired client certificate is refused by node:tls after the handshake (verify error on
// the socket, no tlsClientError on the server with rejectUnauthorized): fail_verify_error is not counted yet.
test('a certificate from an untrusted CA is never counted as a handshake', async () => {
  const other = await makeCa('stranger');
  await connect(await other.issue('spiffe://cluster.local/ns/evil/sa/evil'));
  assert.equal(await counter('handshake'), 0);
});

test('a trusted certificate without a SPIFFE ID counts fail_verify_san; a mesh certificate counts handshake', async () => {
  await connect(await ca.issue('https://not-spiffe.example'));
  assert.equal(await waitFor('fail_verify_san', 1), 1);
  await connect(await ca.issue('spiffe://cluster.local/ns/shop/sa/web'));
  assert.equal(await waitFor('handshake', 1), 1);
  assert.equal(await counter('fail_verify_no_cert'), 2, 'earlier outcomes are not recounted');
  assert.ok((await counter('connection_error')) >= 1);
});
