// HTTP/1.1 through a real proxy: routing by host and prefix, local replies with Envoy's flags,
// upstream failures, circuit-breaker overflow, timeouts on an injected clock, stats and admin.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Timers } from '../../src/proxy/http/router.ts';
import { cla, closedPort, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from './harness.ts';

/** The proxy's timers, held until the test fires them: nothing here waits for real time. */
const pendingTimers: { fn: () => void; ms: number }[] = [];
const timers: Timers = {
  set: (fn, ms) => {
    const t = { fn, ms };
    pendingTimers.push(t);
    return t;
  },
  clear: (h) => {
    const i = pendingTimers.indexOf(h as { fn: () => void; ms: number });
    if (i >= 0) pendingTimers.splice(i, 1);
  },
};

/** Fires the pending timers set for `ms`, as if that much time had passed for them alone. */
function fire(ms: number): number {
  const due = pendingTimers.filter((t) => t.ms === ms);
  for (const t of due) {
    pendingTimers.splice(pendingTimers.indexOf(t), 1);
    t.fn();
  }
  return due.length;
}

/** Awaits a request while firing retry back-off timers (under a second) as they are set. */
async function withBackoff<T>(pending: Promise<T>): Promise<T> {
  let settled = false;
  void pending.finally(() => {
    settled = true;
  });
  while (!settled) {
    for (const t of pendingTimers.filter((x) => x.ms < 1000)) {
      pendingTimers.splice(pendingTimers.indexOf(t), 1);
      t.fn();
    }
    await new Promise((r) => setImmediate(r));
  }
  return pending;
}

let env: Awaited<ReturnType<typeof startProxy>>;
let gw: number;
let backend: Awaited<ReturnType<typeof echoBackend>>;
let hanging: Awaited<ReturnType<typeof echoBackend>>;
const hangingSeen: (() => void)[] = [];

before(async () => {
  backend = await echoBackend();
  hanging = await echoBackend((req) => {
    req.resume();
    hangingSeen.shift()?.();
  });
  const dead = await closedPort();
  env = await startProxy({ timers });
  push(env.proxy, [
    cluster('outbound|80||echo'),
    cluster('outbound|80||empty'),
    cluster('outbound|80||dead'),
    cluster('outbound|80||slow', { maxRequests: 1 }),
    cla('outbound|80||echo', [{ port: backend.port }]),
    cla('outbound|80||dead', [{ port: dead }]),
    cla('outbound|80||slow', [{ port: hanging.port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
    routeConfig('http.8080', [
      {
        domains: ['echo.example.com', 'echo.example.com:*'],
        routes: [
          { prefix: '/api/', cluster: 'outbound|80||echo', prefixRewrite: '/v2/' },
          { path: '/teapot', direct: { status: 418, body: 'short and stout' } },
          { prefix: '/empty', cluster: 'outbound|80||empty' },
          { prefix: '/missing', cluster: 'outbound|80||nope' },
          { prefix: '/dead', cluster: 'outbound|80||dead', retries: 2 },
          { prefix: '/slow', cluster: 'outbound|80||slow', timeout: { seconds: '3' } },
          { prefix: '/', cluster: 'outbound|80||echo' },
        ],
      },
    ]),
  ]);
  gw = await env.port('0.0.0.0_8080');
});

after(async () => {
  await env.close();
  backend.server.close();
  hanging.server.closeAllConnections();
  hanging.server.close();
});

const get = (path: string, host = 'echo.example.com', init: { method?: string; body?: string; headers?: Record<string, string> } = {}) => request(gw, path, { host, ...init });

test('routes by host and prefix, rewrites the prefix, and forwards the body', async () => {
  const res = await get('/api/items?x=1', 'echo.example.com', { method: 'POST', body: 'hello' });
  assert.equal(res.status, 200);
  const seen = JSON.parse(res.body) as { url: string; body: string; headers: Record<string, string> };
  assert.equal(seen.url, '/v2/items?x=1');
  assert.equal(seen.body, 'hello');
  assert.equal(seen.headers['x-forwarded-proto'], 'http');
  assert.ok(seen.headers['x-request-id']);
});

test('local replies carry the status, flag and body Envoy gives', async () => {
  const cases: [string, string, number, string | null][] = [
    ['/x', 'other.example.com', 404, 'NR'],
    ['/teapot', 'echo.example.com', 418, null],
    ['/empty', 'echo.example.com', 503, 'UH'],
    ['/missing', 'echo.example.com', 503, 'NC'],
    // Envoy keeps the reset's flag beside URX once connect retries run out.
    ['/dead', 'echo.example.com', 503, 'UF,URX'],
  ];
  for (const [path, host, status, flag] of cases) {
    const res = await withBackoff(get(path, host));
    assert.equal(res.status, status, `${host}${path}`);
    assert.equal(res.headers['x-envoy-response-flags'] ?? null, flag, `${host}${path}`);
  }
  const stats = await (await fetch(`http://127.0.0.1:${env.admin}/stats`)).text();
  assert.match(stats, /cluster\.outbound\|80\|\|dead\.upstream_rq_retry: 2/);
  assert.match(stats, /cluster\.outbound\|80\|\|dead\.upstream_cx_connect_fail: 3/);
  // Refused, not timed out.
  assert.match(stats, /cluster\.outbound\|80\|\|dead\.upstream_cx_connect_timeout: 0/);
});

test('mesh-internal headers from outside the mesh are stripped; fragments never reach the upstream', async () => {
  const res = await get('/plain', 'echo.example.com', { headers: { 'x-envoy-original-path': '/admin', 'x-outrigger-peer': 'Zm9v', 'x-forwarded-client-cert': 'By=spiffe://evil', 'x-keep': '1' } });
  const seen = JSON.parse(res.body) as { headers: Record<string, string> };
  assert.equal(seen.headers['x-envoy-original-path'], undefined);
  assert.equal(seen.headers['x-outrigger-peer'], undefined);
  assert.equal(seen.headers['x-forwarded-client-cert'], undefined);
  assert.equal(seen.headers['x-keep'], '1');
});

test('the route timeout answers 504 UT (clock injected), and max_requests overflow answers 503 UO', async () => {
  const reached = new Promise<void>((r) => hangingSeen.push(r));
  const slow = get('/slow');
  await reached;
  const overflow = await get('/slow/2');
  assert.equal(overflow.status, 503);
  assert.equal(overflow.headers['x-envoy-response-flags'], 'UO');
  assert.equal(overflow.headers['x-envoy-overloaded'], 'true', "Envoy's mark on a circuit breaker's refusal");
  assert.equal(fire(3000), 1, 'one route timeout of 3 s is pending');
  const res = await slow;
  assert.equal(res.status, 504);
  assert.equal(res.headers['x-envoy-response-flags'] ?? null, 'UT');
  const prom = await (await fetch(`http://127.0.0.1:${env.admin}/stats/prometheus`)).text();
  assert.match(prom, /envoy_cluster_upstream_rq_pending_overflow\{cluster_name="outbound\|80\|\|slow"\} 1/);
  assert.match(prom, /envoy_cluster_upstream_rq_timeout\{cluster_name="outbound\|80\|\|slow"\} 1/);
  assert.match(prom, /# TYPE envoy_cluster_upstream_cx_active gauge/);
});

test('admin: /memory reports the heap within the resident size, in Envoy\'s keys', async () => {
  const mem = (await (await fetch(`http://127.0.0.1:${env.admin}/memory`)).json()) as Record<string, string>;
  const n = (k: string) => Number(mem[k]);
  assert.ok(n('allocated') > 0 && n('allocated') <= n('heap_size'), JSON.stringify(mem));
  assert.ok(n('heap_size') < n('total_physical_bytes'), JSON.stringify(mem));
});

test('admin: config_dump in Envoy shape, clusters, ready, logging', async () => {
  const dump = (await (await fetch(`http://127.0.0.1:${env.admin}/config_dump`)).json()) as { configs: { '@type': string; dynamic_active_clusters?: { cluster: { name: string } }[] }[] };
  const clusters = dump.configs.find((c) => c['@type'].endsWith('ClustersConfigDump'));
  assert.ok(clusters?.dynamic_active_clusters?.some((c) => c.cluster.name === 'outbound|80||echo'));
  const text = await (await fetch(`http://127.0.0.1:${env.admin}/clusters`)).text();
  assert.match(text, new RegExp(`outbound\\|80\\|\\|echo::127.0.0.1:${backend.port}::health_flags::healthy`));
  assert.equal((await fetch(`http://127.0.0.1:${env.admin}/ready`)).status, 200);
  const lv = await fetch(`http://127.0.0.1:${env.admin}/logging?level=debug`, { method: 'POST' });
  assert.match(await lv.text(), /proxy: debug/);
});
