// A fault abort with grpc_status through a real proxy, with Istio's filter order (fault before istio.stats):
// - Envoy's abortWithStatus sends sendLocalReply(200, "fault filter abort", grpc_status); prepareLocalReply
//   uses grpc_status only for a gRPC request (isGrpcRequestHeaders: application/grpc or application/grpc+…,
//   not grpc-web): any other gets a plain 200 text/plain "fault filter abort".
// - istio.stats never saw the aborted request's head (is_grpc_ is set in decodeHeaders only), so even a gRPC
//   request is `request_protocol="http"`, `grpc_response_status=""` (istio_stats.cc).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { telemetryConfig } from './drive-filter.ts';
import { until } from './tcp-authz-pair.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;

const chain: TypedAny = {
  ...hcm('r'),
  http_filters: [
    { name: 'envoy.filters.http.fault', typed_config: { '@type': TypeUrl.HttpFault, abort: { grpc_status: 14, percentage: { numerator: 100, denominator: 'HUNDRED' } } } },
    { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'source', workload: { workload: 'sleep', namespace: 'shop', labels: { app: 'sleep' } }, metrics: true }) },
    { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
  ],
};

before(async () => {
  backend = await echoBackend((req, res) => {
    req.resume();
    res.end('ok');
  });
  env = await startProxy();
  push(env.proxy, [cluster('web'), cla('web', [{ port: backend.port }]), listener('outbound', 15001, [{ filter: chain }]), routeConfig('r', [{ domains: ['web'], routes: [{ prefix: '/', cluster: 'web' }] }])]);
});

after(async () => {
  await env.close();
  backend.server.closeAllConnections();
  backend.server.close();
});

const post = async (contentType: string) => request(await env.port('outbound'), '/', { host: 'web', method: 'POST', headers: { 'content-type': contentType }, body: 'x' });

test('grpc_status abort: a gRPC request gets the gRPC reply, a plain or gRPC-Web one a plain 200 "fault filter abort"', async () => {
  const grpc = await post('application/grpc');
  assert.deepEqual({ status: grpc.status, ct: grpc.headers['content-type'], gs: grpc.headers['grpc-status'], gm: grpc.headers['grpc-message'] }, { status: 200, ct: 'application/grpc', gs: '14', gm: 'fault filter abort' });
  for (const ct of ['application/json', 'application/grpc-web+proto']) {
    const plain = await post(ct);
    assert.deepEqual({ status: plain.status, ct: plain.headers['content-type'], gs: plain.headers['grpc-status'], body: plain.body }, { status: 200, ct: 'text/plain', gs: undefined, body: 'fault filter abort' }, ct);
  }
});

test('a gRPC request the fault filter aborted before istio.stats: request_protocol http, grpc_response_status ""', async () => {
  await post('application/grpc+proto');
  const series = await until(async () => {
    const text = (await request(env.admin, '/stats/prometheus')).body;
    const lines = text.split('\n').filter((l) => l.startsWith('istio_requests_total{'));
    return lines.length > 0 ? lines : undefined;
  });
  for (const l of series) {
    const labels = Object.fromEntries([...l.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    assert.deepEqual({ p: labels['request_protocol'], g: labels['grpc_response_status'], f: labels['response_flags'] }, { p: 'http', g: '', f: 'FI' });
  }
});
