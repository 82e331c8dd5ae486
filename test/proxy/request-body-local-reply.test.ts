// A request body nothing upstream reads: the proxy answers itself after routing (here every endpoint
// refuses, so 503 UF) while the client is still sending. With telemetry counting the body, the body
// must still be drained: an HTTP/2 stream whose body outgrew its buffers otherwise never ends, and the
// request is never logged, never counted and never leaves the proxy's in-flight count.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { telemetryConfig } from '../telemetry/drive-filter.ts';
import * as H from './harness.ts';

const BODY = 300_000;

/** Resolves once `ok()` holds, checking as the event loop turns; rejects with `what` after 10 s. */
async function until(what: string, ok: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what}: not within 10 s`);
    await new Promise((r) => setImmediate(r));
  }
}

async function refusingProxy(t: { after(fn: () => unknown): void }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-body-reply-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logFile = path.join(dir, 'access.log');
  const env = await H.startProxy({ metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'api', LABELS: { app: 'api' } } });
  t.after(() => env.close());
  const stats = { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'destination', workload: { workload: 'api', namespace: 'shop', labels: {} }, metrics: false, access_log: { path: logFile, encoding: 'JSON' } }) };
  H.push(env.proxy, [
    H.cluster('app'),
    H.cla('app', [{ port: await H.closedPort() }]),
    H.listener('0.0.0.0_8080', 8080, [{ filter: H.hcm('http.8080', { http_filters: [stats, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }] }) }]),
    H.routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'app' }] }]),
  ]);
  const logged = (): Record<string, unknown>[] =>
    existsSync(logFile)
      ? readFileSync(logFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>)
      : [];
  return { env, port: await env.port('0.0.0.0_8080'), logged };
}

test('HTTP/2: a 300 KB body answered 503 before any upstream reads it ends, is logged and leaves nothing in flight', async (t) => {
  const { env, port, logged } = await refusingProxy(t);
  const client = http2.connect(`http://127.0.0.1:${port}`);
  t.after(() => client.destroy());
  const stream = client.request({ ':method': 'POST', ':path': '/upload', ':authority': 'api' });
  stream.on('error', () => {});
  let status = 0;
  stream.on('response', (h) => {
    status = Number(h[':status']);
  });
  stream.resume();
  let closed = false;
  stream.once('close', () => {
    closed = true;
  });
  stream.end(Buffer.alloc(BODY, 1));
  await until('the client stream closes', () => closed);
  assert.equal(status, 503);
  await until('the proxy ends the stream', () => env.proxy.inflight === 0);
  await until('the access log has the request', () => logged().length === 1);
  const [line] = logged();
  assert.equal(line?.['response_code'], 503);
  assert.equal(line?.['response_flags'], 'UF');
  // The body was drained after the reply, as it arrived: counted in full.
  assert.equal(line?.['bytes_received'], BODY);
});

test('HTTP/1.1: the same request gets its 503 and its log line', async (t) => {
  const { env, port, logged } = await refusingProxy(t);
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/upload', headers: { host: 'api', 'content-length': String(BODY) }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(Buffer.alloc(BODY, 1));
  });
  assert.equal(status, 503);
  await until('the proxy ends the stream', () => env.proxy.inflight === 0);
  await until('the access log has the request', () => logged().length === 1);
  assert.equal(logged()[0]?.['response_code'], 503);
});
