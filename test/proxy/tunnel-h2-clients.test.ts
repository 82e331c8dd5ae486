// HTTP/2 clients' requests on an HTTP/1.1 cluster cross the tunnel on the HTTP/1.1 pool (as Envoy sends
// HTTP/1.1 upstream for such a cluster): they still get the app's response trailers without asking
// (`te`), and a method only HTTP/2 carries through (an extension) still reaches the app.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

const rootSecret = (ca: string): TypedAny => ({ '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca } } });
const upstream = 'outbound|9898||podinfo.podinfo.svc.cluster.local';

let client: Awaited<ReturnType<typeof startProxy>>;
let server: Awaited<ReturnType<typeof startProxy>>;
/** A raw HTTP/1.1 app: any method, a chunked body and a trailer; it records each request line and `te`. */
let app: net.Server;
const seen: { line: string; te: string | undefined }[] = [];

before(async () => {
  app = net.createServer((s) => {
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        seen.push({ line: head.split('\r\n')[0] ?? '', te: /^te: *(.*)$/im.exec(head)?.[1] });
        s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-checksum\r\n\r\n2\r\nok\r\n0\r\nx-checksum: abc\r\n\r\n');
      }
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as net.AddressInfo).port;
  const ca = await makeCa();
  server = await startProxy({ nodeId: 'sidecar~127.0.0.1~podinfo.podinfo~podinfo.svc.cluster.local' });
  server.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/podinfo/sa/podinfo'));
  push(server.proxy, [
    cluster('inbound|9898||'),
    cla('inbound|9898||', [{ port: appPort }]),
    listener('virtualInbound', 15006, [{ port: 9898, filter: hcm('inbound|9898||') }]),
    listener('connect_terminate', 15008, []),
    routeConfig('inbound|9898||', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'inbound|9898||' }] }]),
    rootSecret(ca.ca),
  ]);
  const tunnelPort = await server.port('connect_terminate');
  client = await startProxy({});
  client.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/frontend/sa/web'));
  push(client.proxy, [
    cluster(upstream),
    cla(upstream, [{ port: tunnelPort, mesh: { targetPort: 9898 } }]),
    listener('virtualOutbound', 15001, [{ port: 9898, filter: hcm('9898') }]),
    routeConfig('9898', [{ domains: ['podinfo.podinfo:9898'], routes: [{ prefix: '/', cluster: upstream }] }]),
    rootSecret(ca.ca),
  ]);
});

after(async () => {
  await client.close();
  await server.close();
  app.close();
});

/** One h2c request through the client's forward proxy: status, body and trailers. */
async function h2c(method: string, path: string): Promise<{ status: number; body: string; trailers: Record<string, unknown> }> {
  const session = http2.connect(`http://127.0.0.1:${await client.port('virtualOutbound')}`);
  session.on('error', () => {});
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ':method': method, ':path': path, ':authority': 'podinfo.podinfo:9898' }, { endStream: true });
      let status = 0;
      let body = '';
      let trailers: Record<string, unknown> = {};
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('trailers', (t) => (trailers = { ...t }));
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => resolve({ status, body, trailers }));
      req.on('error', reject);
    });
  } finally {
    session.close();
  }
}

test("an HTTP/2 client gets the app's trailers without sending te: the tunnel request asks for them", async () => {
  const res = await h2c('GET', '/with-trailers');
  assert.equal(res.status, 200);
  assert.equal(res.body, 'ok');
  assert.equal(res.trailers['x-checksum'], 'abc');
  assert.equal(seen.at(-1)?.line, 'GET /with-trailers HTTP/1.1');
});

test('an extension method from an HTTP/2 client reaches the app (the HTTP/2 session carries what the HTTP/1.1 codec refuses)', async () => {
  const res = await h2c('BREW', '/pot');
  assert.equal(res.status, 200, res.body);
  assert.equal(seen.at(-1)?.line, 'BREW /pot HTTP/1.1');
  // A registered method keeps the HTTP/1.1 pool.
  assert.equal((await h2c('PROPFIND', '/dav')).status, 200);
  assert.equal(seen.at(-1)?.line, 'PROPFIND /dav HTTP/1.1');
});
