// The trust of TLS origination, as Envoy reads the UpstreamTlsContext: no CA at all (Istio's empty
// ValidationContext for `insecureSkipVerify: true`) verifies nothing; `file-root:system` (Istio's default
// when the rule names no CA) verifies against the platform's roots; SAN checks without a CA are refused.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { compileOriginationTls, originationOptions } from '../../src/proxy/cluster/origination-tls.ts';
import { originationContext } from '../../src/translate/client-tls.ts';
import { makeCa } from './certs.ts';

let server: tls.Server;
let port: number;

before(async () => {
  // A server whose CA nobody trusts.
  const pair = await (await makeCa('private-root')).issueWithSans([{ type: 'dns', value: 'api.example.com' }]);
  server = tls.createServer(pair, (s) => s.end('hi'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(() => server.close());

function connect(rule: Parameters<typeof originationContext>[0]): Promise<string> {
  const compiled = compileOriginationTls(originationContext({ sni: 'api.example.com', ...rule }) as never, 'test');
  const opts = originationOptions(compiled, () => undefined, '127.0.0.1');
  assert.equal(typeof opts, 'object', String(opts));
  return new Promise((resolve) => {
    const s = tls.connect({ ...(opts as tls.ConnectionOptions), host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (e) => resolve(`error: ${(e as NodeJS.ErrnoException).code}`));
  });
}

test('insecureSkipVerify: an untrusted server is accepted, as Envoy with an empty validation context', async () => {
  assert.equal(await connect({ mode: 'SIMPLE', insecureSkipVerify: true }), 'connected');
  assert.equal(await connect({ mode: 'SIMPLE', insecureSkipVerify: true, subjectAltNames: ['other.example.com'] }), 'connected', 'no SAN check either');
});

test('no CA named: verified against the platform roots (file-root:system), so an untrusted server is refused', async () => {
  assert.match(await connect({ mode: 'SIMPLE' }), /^error: /);
  assert.match(await connect({ mode: 'SIMPLE', subjectAltNames: ['api.example.com'] }), /^error: /);
});

test('SAN matchers without any CA are refused (Envoy: insecure and not allowed)', () => {
  const ctx = { sni: 'a', common_tls_context: { validation_context: { match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'a' } }] } } };
  assert.throws(() => compileOriginationTls(ctx, 'c'), /without trusted CA/);
});
