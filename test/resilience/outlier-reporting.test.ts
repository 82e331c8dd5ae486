// What reaches outlier detection, as Envoy reports it, through a real proxy: tcp_proxy's connects
// (LocalOriginConnectFailed, LocalOriginConnectSuccessFinal), a gRPC trailers-only answer's grpc-status
// (Router::Filter::onUpstreamHeaders), every connection an HTTP try gets (UpstreamRequest::onPoolReady,
// LocalOriginConnectSuccess), and a changed Cluster starting over with no ejections (addOrUpdateCluster).
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, closedPort, hcm, listener, push, request, routeConfig, startProxy, tcpProxy } from '../proxy/harness.ts';
import { FakeClock, until } from './fake-clock.ts';

const ejectAtTwo = { consecutive_5xx: { value: 2 }, enforcing_consecutive_5xx: { value: 100 }, max_ejection_percent: { value: 100 }, enforcing_success_rate: { value: 0 } };

function edsCluster(extra: Record<string, unknown>): TypedAny {
  return {
    '@type': TypeUrl.Cluster,
    name: 'c',
    type: 'EDS',
    connect_timeout: { seconds: '1' },
    eds_cluster_config: { service_name: 'c' },
    common_lb_config: { healthy_panic_threshold: { value: 0 } },
    ...extra,
  };
}

const httpRoutes = [listener('0.0.0.0_8080', 8080, [{ filter: hcm('r') }]), routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'c' }] }])];

function connectOnce(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.on('close', () => resolve());
    s.resume();
  });
}

test('tcp_proxy: two refused connects eject the endpoint (consecutive_5xx 2); a connection made resets the count', async () => {
  const upstreamPort = await closedPort();
  const p = await startProxy();
  try {
    push(p.proxy, [edsCluster({ outlier_detection: ejectAtTwo }), cla('c', [{ port: upstreamPort }]), listener('0.0.0.0_9000', 9000, [{ filter: tcpProxy('c') }])]);
    const port = await p.port('0.0.0.0_9000');
    const outlier = () => p.proxy.clusters.get('c')!.outlier!.stats;
    await connectOnce(port);
    // A connection made between the failures is LocalOriginConnectSuccessFinal: a 200, so the run starts over.
    const server = net.createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(upstreamPort, '127.0.0.1', r));
    await connectOnce(port);
    await new Promise<void>((r) => server.close(() => r()));
    await connectOnce(port);
    assert.equal(outlier().ejections_enforced_consecutive_5xx, 0, 'failed, connected, failed: no run of two');
    await connectOnce(port);
    assert.equal(outlier().ejections_enforced_consecutive_5xx, 1, 'two refused in a row: ejected');
    assert.equal(outlier().ejections_active, 1);
  } finally {
    await p.close();
  }
});

test('gRPC: a trailers-only UNAVAILABLE counts as 503 (grpcToHttpStatus), so two of them eject the host', async () => {
  const upstream = http2.createServer();
  upstream.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'down' }, { endStream: true });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const p = await startProxy();
  try {
    push(p.proxy, [edsCluster({ outlier_detection: ejectAtTwo, typed_extension_protocol_options: h2Options }), cla('c', [{ port: (upstream.address() as net.AddressInfo).port }]), ...httpRoutes]);
    const port = await p.port('0.0.0.0_8080');
    const call = (contentType: string) =>
      new Promise<string>((resolve, reject) => {
        const s = http2.connect(`http://127.0.0.1:${port}`);
        s.on('error', reject);
        const req = s.request({ ':method': 'POST', ':path': '/svc.S/M', 'content-type': contentType, te: 'trailers' });
        req.on('response', (h) => {
          req.resume();
          req.on('end', () => {
            s.close();
            resolve(String(h['grpc-status']));
          });
        });
        req.on('error', reject);
        req.end(Buffer.from([0, 0, 0, 0, 0]));
      });
    const outlier = () => p.proxy.clusters.get('c')!.outlier!.stats;
    // Not gRPC (Envoy's isGrpcRequestHeaders: grpc-web is not): the :status 200 is what counts.
    assert.equal(await call('application/grpc-web'), '14');
    assert.equal(await call('application/grpc-web'), '14');
    assert.equal(outlier().ejections_enforced_consecutive_5xx, 0);
    assert.equal(await call('application/grpc'), '14');
    assert.equal(await call('application/grpc+proto'), '14');
    assert.equal(outlier().ejections_enforced_consecutive_5xx, 1);
  } finally {
    await p.close();
    upstream.close();
  }
});

const h2Options = { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': TypeUrl.HttpProtocolOptions, explicit_http_config: { http2_protocol_options: {} } } };

/** An app answering 500 on `port`, over HTTP/1.1 or h2c; close() drops its connections too. */
async function failingApp(port: number, h2: boolean): Promise<{ close(): Promise<void> }> {
  const answer = (_q: unknown, r: http.ServerResponse | http2.Http2ServerResponse) => {
    r.statusCode = 500;
    r.end();
  };
  const sessions: http2.ServerHttp2Session[] = [];
  const server = h2 ? http2.createServer(answer).on('session', (s) => sessions.push(s)) : http.createServer(answer);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    close: () =>
      new Promise<void>((r) => {
        if (server instanceof http.Server) server.closeAllConnections();
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Connect failure, success, failure: the success ends the run, so a threshold of 2 is not reached. */
async function splitLocalOrigin(h2: boolean): Promise<void> {
  const upstreamPort = await closedPort();
  const p = await startProxy();
  try {
    const od = {
      split_external_local_origin_errors: true,
      consecutive_local_origin_failure: { value: 2 },
      enforcing_consecutive_local_origin_failure: { value: 100 },
      max_ejection_percent: { value: 100 },
      enforcing_success_rate: { value: 0 },
    };
    push(p.proxy, [edsCluster({ outlier_detection: od, ...(h2 ? { typed_extension_protocol_options: h2Options } : {}) }), cla('c', [{ port: upstreamPort }]), ...httpRoutes]);
    const port = await p.port('0.0.0.0_8080');
    const outlier = () => p.proxy.clusters.get('c')!.outlier!.stats;
    assert.equal((await request(port, '/')).status, 503, 'first: connect refused');
    // The app answers 500: an external error, which the split keeps apart from the local-origin run.
    const app = await failingApp(upstreamPort, h2);
    assert.equal((await request(port, '/')).status, 500, 'second: connected');
    await app.close();
    assert.equal((await request(port, '/')).status, 503, 'third: connect refused');
    assert.equal(outlier().ejections_detected_consecutive_local_origin_failure, 0);
    assert.equal((await request(port, '/')).status, 503, 'fourth: connect refused');
    assert.equal(outlier().ejections_detected_consecutive_local_origin_failure, 1, 'two refused in a row');
  } finally {
    await p.close();
  }
}

for (const h2 of [false, true]) {
  test(`split local-origin errors (${h2 ? 'h2c' : 'HTTP/1.1'}): every connection a try gets resets the local-origin run`, () => splitLocalOrigin(h2));
}

test('a changed Cluster (only circuit_breakers edited) starts with no ejections and fresh breakers, as Envoy builds a new one', async () => {
  const server = http.createServer((_q, r) => {
    r.statusCode = 500;
    r.end('boom');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const p = await startProxy();
  try {
    const withBreakers = (maxConnections: number) => edsCluster({ outlier_detection: ejectAtTwo, circuit_breakers: { thresholds: [{ max_connections: { value: maxConnections } }] } });
    const endpoints = cla('c', [{ port: (server.address() as net.AddressInfo).port }]);
    push(p.proxy, [withBreakers(100), endpoints, ...httpRoutes], 'v1');
    const port = await p.port('0.0.0.0_8080');
    assert.equal((await request(port, '/')).status, 500);
    assert.equal((await request(port, '/')).status, 500);
    assert.equal((await request(port, '/')).status, 503, 'ejected: no healthy upstream');
    const before = p.proxy.clusters.get('c')!;
    const breakers = before.breakers;
    // The same Cluster again (a push for another resource's sake) changes nothing.
    push(p.proxy, [withBreakers(100), endpoints], 'v2');
    assert.equal((await request(port, '/')).status, 503, 'unchanged: still ejected');
    assert.equal(before.breakers, breakers);
    push(p.proxy, [withBreakers(200), endpoints], 'v3');
    assert.equal(p.proxy.clusters.get('c'), before, 'the same running cluster, its pools and stats kept');
    assert.notEqual(before.breakers, breakers);
    assert.equal(before.outlier?.stats.ejections_active, 0);
    assert.equal((await request(port, '/')).status, 500, 'the host is back in rotation');
  } finally {
    await p.close();
    server.close();
  }
});

/**
 * A listening socket on a thread whose event loop is blocked, so it accepts nothing: two connections
 * fill its accept queue (backlog 1) and a connect after them never completes.
 */
async function stalledPort(): Promise<{ port: number; close(): Promise<void> }> {
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

test('tcp_proxy: a connect timeout is LocalOriginTimeout, a gateway failure (504) without the split', async () => {
  const stalled = await stalledPort();
  const clock = new FakeClock();
  const p = await startProxy({ timers: clock, random: () => 0.5 });
  try {
    const od = { consecutive_gateway_failure: { value: 1 }, enforcing_consecutive_gateway_failure: { value: 100 }, max_ejection_percent: { value: 100 }, enforcing_success_rate: { value: 0 } };
    push(p.proxy, [edsCluster({ outlier_detection: od, connect_timeout: { seconds: '5' } }), cla('c', [{ port: stalled.port }]), listener('0.0.0.0_9000', 9000, [{ filter: tcpProxy('c') }])]);
    const closed = connectOnce(await p.port('0.0.0.0_9000'));
    // The connect timer (5 s) comes before the outlier interval (10 s).
    await until(() => clock.nextDue === clock.now() + 5_000, 'the connect timeout is armed');
    clock.advance(5_000);
    await closed;
    const stats = p.proxy.clusters.get('c')!.outlier!.stats;
    assert.equal(stats.ejections_enforced_consecutive_gateway_failure, 1);
  } finally {
    await p.close();
    await stalled.close();
  }
});
