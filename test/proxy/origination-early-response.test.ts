// TLS origination to an endpoint without a sidecar (a DestinationRule SIMPLE cluster on HTTP/1.1, served
// through undici) whose server answers before the client's upload is finished, as the sidecar-to-sidecar
// paths are tested in early-response-upload.test.ts: the client gets the whole response, the upload to
// the upstream is stopped (its connection closed, never reused), and an HTTP/1.1 client is told
// `connection: close`, since the rest of its body will not be read.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { until } from '../resilience/fake-clock.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
/** A response larger than the socket buffers between the app and the client. */
const RESPONSE_BYTES = 1024 * 1024;
/** A TLS app that answers 413 to a request's head at once, with a large body, and never reads the upload. */
let app: tls.Server;
const appSockets: tls.TLSSocket[] = [];

const originating = (name: string): TypedAny => ({
  ...cluster(name),
  transport_socket: {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': TypeUrl.UpstreamTlsContext,
      sni: 'api.example.com',
      common_tls_context: { combined_validation_context: { default_validation_context: {}, validation_context_sds_secret_config: { name: 'kubernetes://api-cacert', sds_config: { ads: {} } } } },
    },
  },
});

before(async () => {
  const ca = await makeCa('external-root');
  app = tls.createServer({ ...(await ca.issueWithSans([{ type: 'dns', value: 'api.example.com' }])) }, (s) => {
    appSockets.push(s);
    s.on('error', () => {});
    s.once('data', () => {
      s.pause();
      s.write(`HTTP/1.1 413 Payload Too Large\r\ncontent-length: ${RESPONSE_BYTES}\r\n\r\n`);
      s.write(Buffer.alloc(RESPONSE_BYTES, 0x61));
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  env = await startProxy();
  push(env.proxy, [
    originating('outbound|443||api'),
    cla('outbound|443||api', [{ port: (app.address() as net.AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r') }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'outbound|443||api' }] }]),
    { '@type': TypeUrl.Secret, name: 'kubernetes://api-cacert', validation_context: { trusted_ca: { inline_string: ca.ca } } },
  ]);
});

after(async () => {
  await env.close();
  app.close();
});

test('an HTTP/1.1 upload answered before it is sent: the whole response with connection: close, the upstream connection closed', { timeout: 20_000 }, async () => {
  const s = net.connect(await env.port('0.0.0.0_8080'), '127.0.0.1');
  let error: Error | undefined;
  s.on('error', (err) => (error = err));
  const chunks: Buffer[] = [];
  let closed = false;
  s.on('data', (c: Buffer) => chunks.push(c));
  s.on('close', () => (closed = true));
  // More than the sockets between would take unread, and never finished.
  s.write('POST /upload HTTP/1.1\r\nhost: api.example.com\r\ncontent-length: 10485760\r\n\r\n');
  s.write(Buffer.alloc(1024 * 1024, 1));
  await until(() => closed, 'the downstream connection closes after the response');
  const out = Buffer.concat(chunks);
  const headEnd = out.indexOf('\r\n\r\n');
  const head = out.toString('latin1', 0, headEnd).toLowerCase();
  assert.match(head, /^http\/1\.1 413 /);
  assert.match(head, /\r\nconnection: close(\r\n|$)/, 'the rest of the upload will not be read');
  // Closed under the response, the client would lose what the kernel had not yet delivered (a reset).
  assert.equal(error, undefined);
  assert.equal(out.length - headEnd - 4, RESPONSE_BYTES, 'the response arrives whole');
  const c = env.proxy.clusters.get('outbound|443||api');
  assert.ok(c);
  await until(() => c.upstream(c.endpoints[0]!).connections() === 0, 'the upload to the upstream is stopped: its connection closed, not kept');
  assert.equal(appSockets.length, 1);
});
