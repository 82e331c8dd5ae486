// The HTTP/2 upstream under load against real h2c and mutual-TLS h2 servers: a response whose HEADERS
// and DATA arrive in one read must reach the sink head first (Node emits 'response' on a later tick
// than it pushes the DATA when the read runs inside a callback scope, as TLS reads do).
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type net from 'node:net';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { checkMeshServerIdentity, MESH_CIPHERS } from '../../src/proxy/tunnel/mesh-tls.ts';
import { H2Upstream } from '../../src/proxy/upstream/h2-upstream.ts';
import type { OutgoingHeaders, UpstreamError } from '../../src/proxy/upstream/upstream.ts';
import { makeCa } from './certs.ts';

const body = Buffer.alloc(1024, 0x78);
let plain: http2.Http2Server;
let secure: http2.Http2SecureServer;
const origins: Record<'h2c' | 'tls', () => H2Upstream> = {} as Record<'h2c' | 'tls', () => H2Upstream>;

function answer(server: http2.Http2Server | http2.Http2SecureServer): void {
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    stream.resume();
    if (headers[':path'] === '/grpc') {
      // HEADERS, DATA and trailers written in one turn: one socket write, one read on the other side.
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(body);
      return;
    }
    stream.respond({ ':status': 200, 'content-length': String(body.length) });
    stream.end(body);
  });
}

async function listen(server: http2.Http2Server | http2.Http2SecureServer): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

before(async () => {
  const ca = await makeCa();
  const serverCert = await ca.issue('spiffe://cluster.local/ns/server/sa/server');
  const clientCert = await ca.issue('spiffe://cluster.local/ns/client/sa/client');
  plain = http2.createServer();
  secure = http2.createSecureServer({ ...serverCert, ca: ca.ca, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] });
  answer(plain);
  answer(secure);
  const plainPort = await listen(plain);
  const securePort = await listen(secure);
  origins.h2c = () => new H2Upstream(`http://127.0.0.1:${plainPort}`, { connectTimeoutMs: 2000 });
  const tls = () => ({ ...clientCert, ca: ca.ca, ALPNProtocols: ['h2'], ciphers: MESH_CIPHERS, checkServerIdentity: checkMeshServerIdentity });
  origins.tls = () => new H2Upstream(`https://127.0.0.1:${securePort}`, { connectTimeoutMs: 2000, tls });
});

after(() => {
  plain.close();
  secure.close();
});

interface Outcome {
  order: string[];
  bytes: number;
  trailers: OutgoingHeaders;
  error?: UpstreamError;
}

function send(u: H2Upstream, path: string, upload?: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const o: Outcome = { order: [], bytes: 0, trailers: {} };
    u.request({ method: upload ? 'POST' : 'GET', path, authority: 'origin', scheme: 'http', headers: {} }, upload ? Readable.from([upload]) : null, {
      onHead(status) {
        o.order.push(`head ${status}`);
      },
      onData(chunk) {
        if (o.order.at(-1) !== 'data') o.order.push('data');
        o.bytes += chunk.length;
        return true;
      },
      onEnd(trailers) {
        o.order.push('end');
        o.trailers = trailers;
        resolve(o);
      },
      onError(err) {
        o.order.push('error');
        o.error = err;
        resolve(o);
      },
    });
  });
}

for (const kind of ['h2c', 'tls'] as const) {
  test(`${kind}: 100 concurrent streams on one session: every response reaches the sink as head, data, end`, async () => {
    const u = origins[kind]();
    try {
      // Closed loop: new requests are written while responses arrive, as under the benchmark.
      const outcomes: Outcome[] = [];
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          for (let i = 0; i < 30; i++) outcomes.push(await send(u, '/'));
        }),
      );
      for (const o of outcomes) {
        assert.deepEqual(o.order, ['head 200', 'data', 'end'], o.error?.message);
        assert.equal(o.bytes, body.length);
      }
    } finally {
      await u.close();
    }
  });

  test(`${kind}: a gRPC response written in one turn keeps its order and its trailers`, async () => {
    const u = origins[kind]();
    try {
      const outcomes = await Promise.all(Array.from({ length: 50 }, () => send(u, '/grpc')));
      for (const o of outcomes) {
        assert.deepEqual(o.order, ['head 200', 'data', 'end'], o.error?.message);
        assert.equal(o.trailers['grpc-status'], '0');
      }
    } finally {
      await u.close();
    }
  });
}
