// The sidecar pair under h2load-shaped load: many h2c connections, each with 10 concurrent streams,
// through the client sidecar's forward proxy and the mutual-TLS tunnel (the HTTP/1.1 pool for the
// HTTP/1.1 cluster, the HTTP/2 session for gRPC) to an HTTP/1.1 app and a gRPC app. Every stream must end in 200 with the whole body and no reset (the benchmark counts resets).
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

const rootSecret = (ca: string): TypedAny => ({ '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca } } });
const body = Buffer.alloc(1024, 0x78);
const grpcMessage = Buffer.concat([Buffer.from([0, 0, 0, 0, 64]), Buffer.alloc(64, 0x61)]);
const httpHost = 'origin.bench.svc.cluster.local:8080';
const grpcHost = 'origin.bench.svc.cluster.local:9090';

let client: Awaited<ReturnType<typeof startProxy>>;
let server: Awaited<ReturnType<typeof startProxy>>;
let app: http.Server;
let grpcApp: http2.Http2Server;
let outbound: number;

async function listen(s: http.Server | http2.Http2Server): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as net.AddressInfo).port;
}

before(async () => {
  const ca = await makeCa();
  // Like the benchmark's nginx: a 1 KB body on a keep-alive HTTP/1.1 connection.
  app = http.createServer((_req, res) => res.writeHead(200, { 'content-length': body.length }).end(body));
  app.keepAliveTimeout = 60_000;
  // A unary gRPC echo: the message back, then grpc-status in trailers.
  grpcApp = http2.createServer();
  grpcApp.on('stream', (stream) => {
    stream.on('error', () => {});
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.concat(chunks));
    });
  });
  const appPort = await listen(app);
  const grpcPort = await listen(grpcApp);

  server = await startProxy({ nodeId: 'sidecar~127.0.0.1~server-0.bench~bench.svc.cluster.local' });
  server.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/bench/sa/server'));
  push(server.proxy, [
    cluster('inbound|8080||'),
    cluster('inbound|9090||', { http2: true }),
    cla('inbound|8080||', [{ port: appPort }]),
    cla('inbound|9090||', [{ port: grpcPort }]),
    listener('virtualInbound', 15006, [
      { port: 8080, filter: hcm('inbound|8080||') },
      { port: 9090, filter: hcm('inbound|9090||') },
    ]),
    listener('connect_terminate', 15008, []),
    routeConfig('inbound|8080||', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'inbound|8080||' }] }]),
    routeConfig('inbound|9090||', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'inbound|9090||' }] }]),
    rootSecret(ca.ca),
  ]);
  const tunnel = await server.port('connect_terminate');

  client = await startProxy({ nodeId: 'sidecar~127.0.0.1~client-0.bench~bench.svc.cluster.local' });
  client.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/bench/sa/client'));
  push(client.proxy, [
    // An HTTP/2 client's requests on this HTTP/1.1 cluster take the HTTP/1.1 tunnel pool, which opens up
    // to 100 mutual-TLS connections at once here: on a machine busy with other tests, more than the
    // harness's 1 s to connect. This test is about resets under load, not connect timing.
    { ...cluster('outbound|8080||origin.bench.svc.cluster.local'), connect_timeout: { seconds: '10' } },
    cluster('outbound|9090||origin.bench.svc.cluster.local', { http2: true }),
    cla('outbound|8080||origin.bench.svc.cluster.local', [{ port: tunnel, mesh: { targetPort: 8080 } }]),
    cla('outbound|9090||origin.bench.svc.cluster.local', [{ port: tunnel, mesh: { targetPort: 9090 } }]),
    listener('virtualOutbound', 15001, [
      { port: 8080, filter: hcm('8080') },
      { port: 9090, filter: hcm('9090') },
    ]),
    routeConfig('8080', [{ domains: [httpHost], routes: [{ prefix: '/', cluster: 'outbound|8080||origin.bench.svc.cluster.local' }] }]),
    routeConfig('9090', [{ domains: [grpcHost], routes: [{ prefix: '/', cluster: 'outbound|9090||origin.bench.svc.cluster.local' }] }]),
    rootSecret(ca.ca),
  ]);
  outbound = await client.port('virtualOutbound');
});

after(async () => {
  await client.close();
  await server.close();
  app.close();
  grpcApp.close();
});

interface Load {
  connections: number;
  streams: number;
  perConnection: number;
  headers: http2.OutgoingHttpHeaders;
  upload?: Buffer;
}

/** h2load's shape: each connection keeps `streams` requests in flight until it has sent its share. */
async function h2load(l: Load): Promise<Map<string, number>> {
  const outcomes = new Map<string, number>();
  const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  const one = (s: http2.ClientHttp2Session) =>
    new Promise<void>((resolve) => {
      const st = s.request(l.headers, { endStream: !l.upload });
      let status = 0;
      let bytes = 0;
      let grpc = '';
      st.on('response', (h) => {
        status = Number(h[':status']);
      });
      st.on('trailers', (t) => {
        grpc = ` grpc-status ${String(t['grpc-status'])}`;
      });
      st.on('data', (c: Buffer) => {
        bytes += c.length;
      });
      st.on('error', () => {});
      st.on('close', () => {
        count(`${status} ${bytes} bytes rst ${st.rstCode}${grpc}`);
        resolve();
      });
      if (l.upload) st.end(l.upload);
    });
  await Promise.all(
    Array.from({ length: l.connections }, async () => {
      const s = http2.connect(`http://127.0.0.1:${outbound}`);
      s.on('error', () => {});
      let left = l.perConnection;
      await Promise.all(
        Array.from({ length: l.streams }, async () => {
          while (left > 0) {
            left--;
            await one(s);
          }
        }),
      );
      s.close();
    }),
  );
  return outcomes;
}

test('10 h2c connections × 10 streams through the pair: 3,000 responses, all 200 with their body, none reset', async () => {
  const outcomes = await h2load({ connections: 10, streams: 10, perConnection: 300, headers: { ':path': '/', ':authority': httpHost } });
  assert.deepEqual(Object.fromEntries(outcomes), { '200 1024 bytes rst 0': 3000 });
});

test('gRPC unary calls, 10 connections × 10 streams through the pair: all grpc-status 0, none reset', async () => {
  const headers = { ':method': 'POST', ':path': '/bench.Echo/Echo', ':authority': grpcHost, 'content-type': 'application/grpc', te: 'trailers' };
  const outcomes = await h2load({ connections: 10, streams: 10, perConnection: 150, headers, upload: grpcMessage });
  assert.deepEqual(Object.fromEntries(outcomes), { [`200 ${grpcMessage.length} bytes rst 0 grpc-status 0`]: 1500 });
});
