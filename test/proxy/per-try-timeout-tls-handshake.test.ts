// A try's per-try timeout does not count its connection's TLS handshake: Envoy's SslSocket raises
// Connected only once the handshake is done, the pool is ready (UpstreamRequest::onPoolReady) only then,
// and the handshake is the cluster's connect_timeout's. Through a real proxy originating TLS on each
// upstream path (HTTP/1.1, HTTP/1.1 carrying request trailers, HTTP/2): the endpoint accepts TCP and
// holds the handshake until the test hands the socket to the TLS server. The per-try timer and the
// connect timeout are on the fake clock; the connect timeout (60 s) is far past what the test advances.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type tls from 'node:tls';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { FakeClock, until } from '../resilience/fake-clock.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, hcm, listener, push, startProxy } from './harness.ts';

const SAN = 'spiffe://external/api';
const CA_SECRET = 'kubernetes://api-cacert';
/** Every route tries a second time after a per-try timeout of 2 s; no route timeout. */
const retried = { timeout: { seconds: '0' }, retry_policy: { retry_on: 'reset', num_retries: { value: 1 }, per_try_timeout: { seconds: '2' } } };

/** A TLS server that never answers, and the requests it has read to their end, with their trailers. */
interface HeldTls {
  readonly server: tls.Server;
  readonly tries: { trailers: Record<string, string | undefined> }[];
}

let ca: Awaited<ReturnType<typeof makeCa>>;
let h1: HeldTls;
let h2: HeldTls;
/** TCP accepted by the endpoint, its TLS handshake not started until the test hands the socket on. */
const held: net.Socket[] = [];
let raw: net.Server;

function originating(name: string, http2 = false): TypedAny {
  return {
    ...cluster(name, { http2 }),
    connect_timeout: { seconds: '60' },
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': TypeUrl.UpstreamTlsContext,
        sni: 'api.example.com',
        common_tls_context: {
          combined_validation_context: {
            default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: SAN } }] },
            validation_context_sds_secret_config: { name: CA_SECRET, sds_config: { ads: {} } },
          },
        },
      },
    },
  };
}

async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/** A raw HTTP/1.1 exchange: what came back so far. */
function send(port: number, bytes: string): { out: () => string; close(): void } {
  const s = net.connect(port, '127.0.0.1');
  let out = '';
  s.on('data', (c: Buffer) => {
    out += c.toString('latin1');
  });
  s.on('error', () => {});
  s.write(bytes);
  return { out: () => out, close: () => s.destroy() };
}

before(async () => {
  ca = await makeCa('external-root');
  const pair = await ca.issue(SAN);
  const h1Tries: HeldTls['tries'] = [];
  const h1Server = https.createServer({ ...pair }, (req) => {
    req.resume();
    req.on('end', () => h1Tries.push({ trailers: { ...req.trailers } }));
  });
  h1 = { server: h1Server, tries: h1Tries };
  const h2Tries: HeldTls['tries'] = [];
  const h2Server = http2.createSecureServer({ ...pair });
  h2Server.on('stream', (stream) => {
    stream.resume();
    stream.on('end', () => h2Tries.push({ trailers: {} }));
  });
  h2 = { server: h2Server, tries: h2Tries };
  raw = net.createServer((s) => {
    s.on('error', () => {});
    held.push(s);
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
});

after(() => {
  for (const s of held) s.destroy();
  raw.close();
  h1.server.close();
  h2.server.close();
});

/**
 * Sends `request` through a proxy to an endpoint that holds its handshake: no per-try timeout while it
 * is held, however long; once the handshake is done and the try sent, the try has its whole 2 s.
 */
async function perTryAfterHandshake(request: string, upstream: HeldTls, http2 = false): Promise<HeldTls['tries'][number]> {
  const clock = new FakeClock();
  const p = await startProxy({ timers: clock, random: () => 0.5 });
  push(p.proxy, [
    originating('c', http2),
    cla('c', [{ port: (raw.address() as AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { stream_idle_timeout: { seconds: '100' } }) }]),
    { '@type': TypeUrl.RouteConfiguration, name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c', ...retried } }] }] },
    { '@type': TypeUrl.Secret, name: CA_SECRET, validation_context: { trusted_ca: { inline_string: ca.ca } } },
  ]);
  const stats = () => p.proxy.clusters.get('c')?.resilience;
  const heldBefore = held.length;
  const triesBefore = upstream.tries.length;
  const b = send(await p.port('0.0.0.0_8080'), request);
  try {
    await until(() => held.length === heldBefore + 1, 'the proxy connected over TCP and waits for the handshake');
    clock.advance(5_000); // more than two per-try timeouts, all of it in the handshake
    await turns();
    assert.equal(stats()?.upstream_rq_per_try_timeout, 0, 'no per-try timeout while the handshake was held');
    assert.equal(b.out(), '', 'still waiting, not answered 504 UT');
    upstream.server.emit('connection', held[heldBefore]);
    await until(() => upstream.tries.length === triesBefore + 1, 'the handshake is done and the try sent');
    clock.advance(1_900);
    await turns();
    assert.equal(stats()?.upstream_rq_per_try_timeout, 0, 'the try has 0.1 s of its 2 s left');
    clock.advance(100);
    await turns();
    assert.equal(stats()?.upstream_rq_per_try_timeout, 1, '2 s after its connection was ready, the try is abandoned');
    return upstream.tries[triesBefore] as HeldTls['tries'][number];
  } finally {
    b.close();
    for (const s of held) s.destroy();
    await p.close();
  }
}

test('HTTP/1.1 in originated TLS: the per-try timer starts once the handshake is done', async () => {
  await perTryAfterHandshake('GET /a HTTP/1.1\r\nHost: a.example.com\r\n\r\n', h1);
});

test('HTTP/1.1 carrying request trailers in originated TLS: the per-try timer starts once the handshake is done', async () => {
  const body = 'POST /t HTTP/1.1\r\nHost: a.example.com\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n3\r\nabc\r\n0\r\nx-checksum: c0ffee\r\n\r\n';
  const seen = await perTryAfterHandshake(body, h1);
  assert.equal(seen.trailers['x-checksum'], 'c0ffee', 'the request went the trailer path, its trailers whole');
});

test('HTTP/2 in originated TLS: the per-try timer starts once the handshake is done', async () => {
  await perTryAfterHandshake('GET /h2 HTTP/1.1\r\nHost: a.example.com\r\n\r\n', h2, true);
});
