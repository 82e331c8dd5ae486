// A client that pipelines requests and never reads the answers (ISTIO-SECURITY-2020-003, CVE-2020-8661:
// "excessive memory when responding internally to pipelined requests"). The proxy answers each with a
// local reply (404 NR here); were it to go on parsing the next request while its answers wait unsent, it
// would read everything the client sends and hold every answer (here 8 KB each, a direct response). As Envoy's HTTP/1.1 codec since, it
// takes the next request only once the connection's output is below its high-water mark: what waits
// for the client is bounded, TCP flow control holds the client, and nothing is lost once it reads.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { telemetryConfig } from '../telemetry/drive-filter.ts';
import { cla, cluster, echoBackend, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;

const stats: TypedAny = {
  ...hcm('r'),
  http_filters: [
    { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'source', workload: { workload: 'sleep', namespace: 'shop', labels: { app: 'sleep' } }, metrics: true }) },
    { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
  ],
};

before(async () => {
  backend = await echoBackend();
  env = await startProxy();
  push(env.proxy, [cluster('web'), cla('web', [{ port: backend.port }]), listener('outbound', 15001, [{ filter: stats }]), routeConfig('r', [{ domains: ['web'], routes: [{ prefix: '/', direct: { status: 200, body: 'x'.repeat(8000) } }] }])]);
});

after(async () => {
  await env.close();
  backend.server.close();
});

/** The requests the proxy has answered (and counted, at each stream's end). */
function answered(): number {
  const line = env.proxy.metrics
    .renderPrometheus()
    .split('\n')
    .find((l) => l.startsWith('istio_requests_total{') && l.includes('response_code="200"'));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

test('pipelined requests from a client that never reads: the proxy stops taking them while its answers wait', async () => {
  const port = await env.port('outbound');
  const one = Buffer.from('GET /x HTTP/1.1\r\nHost: web\r\n\r\n');
  // 40 MB of answers: far more than the kernel's socket buffers hold.
  const total = 5_000;
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  await new Promise<void>((r) => s.once('connect', () => r()));
  s.pause();
  s.write(Buffer.concat(Array.from({ length: total }, () => one)));
  // Until the proxy answered nothing new for a while: it answered every request (it never stops), or it
  // stopped taking them (its answers wait for a client that does not read them).
  for (let last = -1, still = 0; still < 200; ) {
    await new Promise((r) => setImmediate(r));
    const n = answered();
    still = n === last ? still + 1 : 0;
    last = n;
  }
  const before = answered();
  assert.ok(before < total / 2, `the proxy answered ${before} of ${total} requests nobody read`);
  // Once the client reads, every request is answered, in order.
  let got = 0;
  let tail = Buffer.alloc(0);
  s.on('data', (c: Buffer) => {
    // A status line may straddle two reads: the previous read's last bytes are searched again.
    const b = Buffer.concat([tail, c]);
    for (let i = b.indexOf('HTTP/1.1 200'); i >= 0; i = b.indexOf('HTTP/1.1 200', i + 1)) got++;
    tail = b.subarray(Math.max(0, b.length - 11));
    if (got === total) s.destroy();
  });
  s.resume();
  await new Promise<void>((r) => s.once('close', () => r()));
  assert.equal(got, total);
});
