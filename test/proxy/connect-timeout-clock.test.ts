// A cluster's connect_timeout runs on the proxy's clock on every upstream path: the TCP connect, and the
// TLS handshake of TLS the cluster originates or of the mesh tunnel. Through a real proxy on a fake clock,
// to endpoints that never finish connecting: one that accepts TCP and never answers the handshake, and
// one whose accept queue is full, so the proxy's SYN goes unanswered. Nothing fails a millisecond before
// the timeout; at it, an HTTP request gets 503 UF and a tcp_proxy connection is closed. The timeout
// (45 s) is far longer than the test waits for anything in real time.
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { FakeClock, until } from '../resilience/fake-clock.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, type EndpointSpec, hcm, listener, push, routeConfig, startProxy, tcpProxy } from './harness.ts';

const CONNECT_MS = 45_000;
const CA_SECRET = 'kubernetes://api-cacert';
const UF_BODY = 'upstream connect error or disconnect/reset before headers. reset reason: connection failure';

let ca: Awaited<ReturnType<typeof makeCa>>;
/** Accepts TCP and holds it: a TLS handshake to it never completes. */
let silent: net.Server;
const held: net.Socket[] = [];
/** A listener whose accept queue is full: a connect to it never completes. */
let stalled: { port: number; close(): Promise<void> };
/** A destination sidecar (real clock) whose tunnel passes TCP to port 5432 on to `silent`. */
let destination: Awaited<ReturnType<typeof startProxy>>;
let tunnelPort: number;

/**
 * A listening socket on a thread whose event loop is blocked, so it accepts nothing: two connections
 * fill its accept queue (backlog 1) and the kernel drops every SYN after them.
 */
async function fullBacklog(): Promise<{ port: number; close(): Promise<void> }> {
  const release = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const server = require('node:net').createServer((s) => s.destroy());
     server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
       parentPort.postMessage(server.address().port);
       Atomics.wait(workerData, 0, 0);
       server.close();
     });`,
    { eval: true, workerData: release },
  );
  const port = await new Promise<number>((resolve) => worker.once('message', resolve));
  const fill = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        }),
    ),
  );
  for (const s of fill) s.on('error', () => {});
  return {
    port,
    async close() {
      for (const s of fill) s.destroy();
      Atomics.store(release, 0, 1);
      Atomics.notify(release, 0);
      await new Promise((r) => worker.once('exit', r));
    },
  };
}

before(async () => {
  ca = await makeCa('external-root');
  silent = net.createServer((s) => {
    s.on('error', () => {});
    held.push(s);
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  stalled = await fullBacklog();
  destination = await startProxy({ nodeId: 'sidecar~127.0.0.1~api.shop~shop.svc.cluster.local' });
  destination.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/shop/sa/api'));
  push(destination.proxy, [
    cluster('inbound|5432||'),
    cla('inbound|5432||', [{ port: silentPort() }]),
    listener('virtualInbound', 15006, [{ port: 5432, filter: tcpProxy('inbound|5432||') }]),
    listener('connect_terminate', 15008, []),
    { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } },
  ]);
  tunnelPort = await destination.port('connect_terminate');
});

after(async () => {
  await destination.close();
  for (const s of held) s.destroy();
  silent.close();
  await stalled.close();
});

const silentPort = (): number => (silent.address() as AddressInfo).port;

/** Cluster `c` with the test's connect timeout; `originates`: DestinationRule SIMPLE TLS to the endpoint. */
function clusterC(opts: { http2?: boolean; originates?: boolean; mtls?: boolean } = {}): TypedAny {
  return {
    ...cluster('c', { ...(opts.http2 ? { http2: true } : {}), ...(opts.mtls ? { mtls: [] } : {}) }),
    connect_timeout: { seconds: String(CONNECT_MS / 1000) },
    ...(opts.originates
      ? {
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': TypeUrl.UpstreamTlsContext,
              sni: 'api.example.com',
              common_tls_context: { combined_validation_context: { default_validation_context: {}, validation_context_sds_secret_config: { name: CA_SECRET, sds_config: { ads: {} } } } },
            },
          },
        }
      : {}),
  };
}

async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

interface Setup {
  cluster: TypedAny;
  endpoint: EndpointSpec;
  /** The proxy has reached the endpoint as far as it can (a held TCP connection), or true when nothing shows. */
  reached?: (heldBefore: number) => boolean;
  /** Mesh certificates: the tunnel has its TLS options. */
  mesh?: boolean;
}

/** A proxy on `clock` with cluster `c` behind an HTTP listener and a tcp_proxy listener. */
async function proxyFor(clock: FakeClock, s: Setup) {
  const p = await startProxy({ timers: clock, random: () => 0.5 });
  if (s.mesh) p.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/default/sa/test'));
  push(p.proxy, [
    s.cluster,
    cla('c', [s.endpoint]),
    listener('http', 8080, [{ filter: hcm('r', { stream_idle_timeout: { seconds: '300' } }) }]),
    listener('tcp', 9898, [{ filter: tcpProxy('c') }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'c', timeout: { seconds: '0' } }] }]),
    { '@type': TypeUrl.Secret, name: CA_SECRET, validation_context: { trusted_ca: { inline_string: ca.ca } } },
    { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } },
  ]);
  return p;
}

/** Envoy's connect failure and connect timeout counts of cluster `c`: a timed-out connect is both. */
function connectStats(p: Awaited<ReturnType<typeof startProxy>>): { fail: string | undefined; timeout: string | undefined } {
  const text = p.proxy.metrics.renderPrometheus();
  return {
    fail: text.match(/envoy_cluster_upstream_cx_connect_fail\{cluster_name="c"\} (\d+)/)?.[1],
    timeout: text.match(/envoy_cluster_upstream_cx_connect_timeout\{cluster_name="c"\} (\d+)/)?.[1],
  };
}

/** Waits until the proxy is connecting: the endpoint holds its TCP (if it can tell) and the connect timer is armed. */
async function connecting(clock: FakeClock, s: Setup, heldBefore: number): Promise<void> {
  await until(() => s.reached?.(heldBefore) ?? true, 'the proxy reached the endpoint');
  await until(() => clock.nextDue === clock.now() + CONNECT_MS, 'the connect timeout is armed');
}

/** An HTTP/1.1 request through the proxy: no answer 1 ms before connect_timeout, 503 UF at it. */
async function answeredAtConnectTimeout(s: Setup, bytes = 'GET /a HTTP/1.1\r\nHost: a.example.com\r\n\r\n'): Promise<void> {
  const clock = new FakeClock();
  const p = await proxyFor(clock, s);
  const heldBefore = held.length;
  const client = net.connect(await p.port('http'), '127.0.0.1');
  let out = '';
  client.on('data', (c: Buffer) => {
    out += c.toString('latin1');
  });
  client.on('error', () => {});
  client.write(bytes);
  try {
    await connecting(clock, s, heldBefore);
    clock.advance(CONNECT_MS - 1);
    await turns();
    assert.equal(out, '', 'no answer a millisecond before the connect timeout');
    clock.advance(1);
    await until(() => out.endsWith(UF_BODY), 'the connect timeout answered');
    assert.match(out, /^HTTP\/1\.1 503 /);
    assert.match(out, /\r\nx-envoy-response-flags: UF\r\n/);
    assert.deepEqual(connectStats(p), { fail: '1', timeout: '1' });
  } finally {
    client.destroy();
    await p.close();
  }
}

/** A tcp_proxy connection through the proxy: open 1 ms before connect_timeout, closed at it. */
async function closedAtConnectTimeout(s: Setup): Promise<void> {
  const clock = new FakeClock();
  const p = await proxyFor(clock, s);
  const heldBefore = held.length;
  const client = net.connect(await p.port('tcp'), '127.0.0.1');
  let closed = false;
  client.on('close', () => {
    closed = true;
  });
  client.on('error', () => {});
  try {
    await connecting(clock, s, heldBefore);
    clock.advance(CONNECT_MS - 1);
    await turns();
    assert.equal(closed, false, 'the downstream connection is open a millisecond before the connect timeout');
    clock.advance(1);
    await until(() => closed, 'the connect timeout closed the downstream connection');
    assert.deepEqual(connectStats(p), { fail: '1', timeout: '1' });
  } finally {
    client.destroy();
    await p.close();
  }
}

const heldTls = { reached: (before: number) => held.length > before };
const originated = (http2 = false): Setup => ({ ...heldTls, cluster: clusterC({ originates: true, http2 }), endpoint: { port: silentPort() } });
const noSyn = (http2 = false): Setup => ({ cluster: clusterC({ http2 }), endpoint: { port: stalled.port } });
const tunnel = (): Setup => ({ ...heldTls, cluster: clusterC({ mtls: true }), endpoint: { port: silentPort(), mesh: { targetPort: 8080 } }, mesh: true });
const tunnelNoSyn = (): Setup => ({ cluster: clusterC({ mtls: true }), endpoint: { port: stalled.port, mesh: { targetPort: 8080 } }, mesh: true });
/** TLS the cluster originates inside a tunnel CONNECT that the destination passes to `silent`. */
const originatedInTunnel = (): Setup => ({ ...heldTls, cluster: clusterC({ originates: true }), endpoint: { port: tunnelPort, mesh: { targetPort: 5432 } }, mesh: true });

test('plain HTTP/1.1, a TCP connect never completed: 503 UF at connect_timeout, not before', async () => {
  await answeredAtConnectTimeout(noSyn());
});

test('plain HTTP/2 (h2c), a TCP connect never completed: 503 UF at connect_timeout, not before', async () => {
  await answeredAtConnectTimeout(noSyn(true));
});

test('HTTP/1.1 in originated TLS, a handshake never answered: 503 UF at connect_timeout, not before', async () => {
  await answeredAtConnectTimeout(originated());
});

test('HTTP/1.1 with request trailers in originated TLS, a handshake never answered: 503 UF at connect_timeout, not before', async () => {
  await answeredAtConnectTimeout(originated(), 'POST /t HTTP/1.1\r\nHost: a.example.com\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n3\r\nabc\r\n0\r\nx-checksum: c0ffee\r\n\r\n');
});

test('HTTP/2 in originated TLS, a handshake never answered: 503 UF at connect_timeout, not before', async () => {
  await answeredAtConnectTimeout(originated(true));
});

test('HTTP/1.1 to a meshed endpoint, a tunnel handshake never answered: 503 UF at connect_timeout, not before', async () => {
  await answeredAtConnectTimeout(tunnel());
});

test('HTTP/1.1 in originated TLS inside the tunnel, a handshake never answered: 503 UF at connect_timeout, not before', async () => {
  await answeredAtConnectTimeout(originatedInTunnel());
});

test('tcp_proxy, a TCP connect never completed: the downstream closed at connect_timeout, not before', async () => {
  await closedAtConnectTimeout(noSyn());
});

test('tcp_proxy in originated TLS, a handshake never answered: the downstream closed at connect_timeout, not before', async () => {
  await closedAtConnectTimeout(originated());
});

test('tcp_proxy to a meshed endpoint, a tunnel handshake never answered: the downstream closed at connect_timeout, not before', async () => {
  await closedAtConnectTimeout(tunnel());
});

test('tcp_proxy to a meshed endpoint, a TCP connect never completed: the downstream closed at connect_timeout, not before', async () => {
  await closedAtConnectTimeout(tunnelNoSyn());
});

test('tcp_proxy in originated TLS inside the tunnel, a handshake never answered: the downstream closed at connect_timeout, not before', async () => {
  await closedAtConnectTimeout(originatedInTunnel());
});
