// A response that is complete before the client's upload is: as Envoy's router does (onUpstreamComplete
// with the downstream not ended), the upstream stream is reset (RST_STREAM NO_ERROR), so it does not hold
// a stream slot and its flow-control window on the mesh tunnel's session until the session dies. Through
// two sidecars (an HTTP/2 cluster's stream; an HTTP/1.1 cluster's carried connection, closed rather than
// reused) and against an h2c upstream, whose stream shows the reset's code.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type { H2Upstream } from '../../src/proxy/upstream/h2-upstream.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { until } from '../resilience/fake-clock.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

const rootSecret = (ca: string): TypedAny => ({ '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca } } });
const upstream = 'outbound|9898||podinfo.podinfo.svc.cluster.local';
/** The same service as an HTTP/1.1 cluster: its requests are HTTP/1.1 connections carried on the session. */
const upstreamH1 = 'outbound|9899||podinfo.podinfo.svc.cluster.local';

let client: Awaited<ReturnType<typeof startProxy>>;
let server: Awaited<ReturnType<typeof startProxy>>;
/** A raw HTTP/1.1 app that answers 413 to a request's head and never reads its body. */
let app: net.Server;

before(async () => {
  app = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => {
      s.pause();
      s.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 8\r\n\r\ntoo big\n');
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const ca = await makeCa();
  server = await startProxy({ nodeId: 'sidecar~127.0.0.1~podinfo.podinfo~podinfo.svc.cluster.local' });
  server.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/podinfo/sa/podinfo'));
  push(server.proxy, [
    cluster('inbound|9898||'),
    cla('inbound|9898||', [{ port: (app.address() as net.AddressInfo).port }]),
    listener('virtualInbound', 15006, [{ port: 9898, filter: hcm('inbound|9898||') }]),
    listener('connect_terminate', 15008, []),
    routeConfig('inbound|9898||', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'inbound|9898||' }] }]),
    rootSecret(ca.ca),
  ]);
  client = await startProxy({});
  client.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/frontend/sa/web'));
  push(client.proxy, [
    // An HTTP/2 cluster (gRPC): its requests are streams on the tunnel's HTTP/2 session.
    cluster(upstream, { http2: true }),
    cla(upstream, [{ port: await server.port('connect_terminate'), mesh: { targetPort: 9898 } }]),
    cluster(upstreamH1),
    cla(upstreamH1, [{ port: await server.port('connect_terminate'), mesh: { targetPort: 9898 } }]),
    listener('virtualOutbound', 15001, [
      { port: 9898, filter: hcm('9898') },
      { port: 9899, filter: hcm('9899') },
    ]),
    routeConfig('9898', [{ domains: ['podinfo.podinfo:9898'], routes: [{ prefix: '/', cluster: upstream }] }]),
    routeConfig('9899', [{ domains: ['podinfo.podinfo:9899'], routes: [{ prefix: '/', cluster: upstreamH1 }] }]),
    rootSecret(ca.ca),
  ]);
});

after(async () => {
  await client.close();
  await server.close();
  app.close();
});

/** The source sidecar's HTTP/2 tunnel upstream to the one endpoint of `name`. */
function tunnel(name = upstream): H2Upstream {
  const c = client.proxy.clusters.get(name);
  assert.ok(c);
  return c.upstream(c.endpoints[0] as (typeof c.endpoints)[number]) as H2Upstream;
}

/** An HTTP/2 upload to `authority` through the source sidecar, left unfinished: the response it gets. */
async function unfinishedUpload(authority: string): Promise<{ status: number; body: string; session: http2.ClientHttp2Session; req: http2.ClientHttp2Stream }> {
  const session = http2.connect(`http://127.0.0.1:${await client.port('virtualOutbound')}`);
  session.on('error', () => {});
  const req = session.request({ ':method': 'POST', ':path': '/upload', ':authority': authority });
  req.on('error', () => {});
  // More than the tunnel stream's window would take unread, and the upload is not ended.
  req.write(Buffer.alloc(256 * 1024, 1));
  let status = 0;
  let body = '';
  req.on('response', (h) => (status = Number(h[':status'])));
  req.on('data', (d: Buffer) => (body += d.toString()));
  await new Promise<void>((resolve) => req.once('end', resolve));
  return { status, body, session, req };
}

test('an HTTP/2 upload answered in full before it is sent closes its stream on the tunnel session', async () => {
  const { status, body, session, req } = await unfinishedUpload('podinfo.podinfo:9898');
  try {
    assert.equal(status, 413);
    assert.equal(body, 'too big\n', 'the response arrives whole');
    await until(() => tunnel().streams() === 0, 'the tunnel stream closes');
    // The source sidecar, whose HTTP/2 client got the whole response before the tunnel stream's reset,
    // resets the client's stream in turn (Envoy's doEndStream), rather than read the rest of its upload.
    await until(() => req.closed, "the client's stream is reset");
    assert.equal(req.rstCode, http2.constants.NGHTTP2_NO_ERROR);
  } finally {
    session.destroy();
  }
});

test('on an HTTP/1.1 cluster the same upload closes the carried connection: nothing stays open on the session', async () => {
  const { status, body, session } = await unfinishedUpload('podinfo.podinfo:9899');
  try {
    assert.equal(status, 413);
    assert.equal(body, 'too big\n');
    await until(() => tunnel(upstreamH1).streams() === 0, 'the carried connection closes');
  } finally {
    session.destroy();
  }
});

test('an h2c upstream that answers while still reading the upload sees its stream reset with NO_ERROR, as Envoy resets it', async (t) => {
  const app = http2.createServer();
  let closedWith: number | undefined;
  let received = 0;
  app.on('stream', (stream) => {
    stream.on('error', () => {});
    // Reading the body (unlike a Node server that never reads, which resets the stream itself).
    stream.once('data', (c: Buffer) => {
      received += c.length;
      stream.on('data', (d: Buffer) => (received += d.length));
      stream.respond({ ':status': 403 });
      stream.end('denied');
    });
    stream.once('close', () => (closedWith = stream.rstCode));
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  t.after(() => app.close());
  const proxy = await startProxy();
  t.after(() => proxy.close());
  push(proxy.proxy, [
    cluster('app', { http2: true }),
    cla('app', [{ port: (app.address() as net.AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
    routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'app' }] }]),
  ]);
  const session = http2.connect(`http://127.0.0.1:${await proxy.port('0.0.0.0_8080')}`);
  t.after(() => session.destroy());
  session.on('error', () => {});
  const req = session.request({ ':method': 'POST', ':path': '/upload', ':authority': 'app' });
  req.on('error', () => {});
  req.write(Buffer.alloc(16 * 1024, 1));
  let status = 0;
  let body = '';
  req.on('response', (h) => (status = Number(h[':status'])));
  req.on('data', (d: Buffer) => (body += d.toString()));
  await new Promise<void>((resolve) => req.once('end', resolve));
  assert.equal(status, 403);
  assert.equal(body, 'denied');
  await until(() => closedWith !== undefined, "the upstream's stream closes");
  assert.equal(closedWith, http2.constants.NGHTTP2_NO_ERROR);
  assert.ok(received > 0);
});

test('an HTTP/2 client whose upload the response completes first: the whole response, trailers included, then RST_STREAM NO_ERROR', async (t) => {
  // An h2c app that answers at once (head, body and trailers) while the client is still uploading.
  const app = http2.createServer();
  let received = 0;
  app.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.on('data', (d: Buffer) => (received += d.length));
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'early' }));
    stream.end('answer');
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  t.after(() => app.close());
  const proxy = await startProxy();
  t.after(() => proxy.close());
  push(proxy.proxy, [
    cluster('app', { http2: true }),
    cla('app', [{ port: (app.address() as net.AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
    routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'app' }] }]),
  ]);
  const session = http2.connect(`http://127.0.0.1:${await proxy.port('0.0.0.0_8080')}`);
  t.after(() => session.destroy());
  session.on('error', () => {});
  const req = session.request({ ':method': 'POST', ':path': '/svc.S/Upload', ':authority': 'app', 'content-type': 'application/grpc', te: 'trailers' });
  req.on('error', () => {});
  req.write(Buffer.alloc(16 * 1024, 1));
  let status = 0;
  let body = '';
  let trailers: http2.IncomingHttpHeaders | undefined;
  let ended = false;
  req.on('response', (h) => (status = Number(h[':status'])));
  req.on('data', (d: Buffer) => (body += d.toString()));
  req.on('trailers', (h) => (trailers = h));
  req.on('end', () => (ended = true));
  await until(() => req.closed, "the client's stream is reset though its upload never ended");
  assert.equal(req.rstCode, http2.constants.NGHTTP2_NO_ERROR);
  assert.equal(status, 200);
  assert.equal(body, 'answer');
  assert.equal(trailers?.['grpc-status'], '0', 'the trailers went out before the reset');
  assert.equal(trailers?.['grpc-message'], 'early');
  await until(() => ended, 'the response ends');
  assert.ok(received > 0);
  await until(() => proxy.proxy.inflight === 0, 'nothing left in flight');
});
