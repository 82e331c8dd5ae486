// Istio's proxyStatsMatcher through real proxies: a proxy whose node metadata carries
// PROXY_CONFIG.proxyStatsMatcher (as the runtime sends it) serves on /stats/prometheus and /stats the
// per-cluster stats the matcher includes and not the others, with Istio's istio_* metrics and the
// server and cluster manager stats Istio always keeps; a proxy without one serves every stat, as before.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { statsMatcherFromMetadata } from '../../src/proxy/run-proxy.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { telemetryConfig } from './drive-filter.ts';

const podinfo = 'outbound|9898||podinfo.podinfo.svc.cluster.local';
const other = 'outbound|80||other.example.com';
// Envoy's names: `cluster.<name>.<stat>`. The first prefix keeps every stat of podinfo's clusters; the
// regex keeps the one stat the seed's alert reads, of every cluster.
const metadata = { PROXY_CONFIG: { proxyStatsMatcher: { inclusionPrefixes: ['cluster.outbound|9898|'], inclusionRegexps: ['.*upstream_rq_pending_overflow'] } } };

type Env = Awaited<ReturnType<typeof startProxy>>;
let matched: Env;
let plain: Env;
let backend: Awaited<ReturnType<typeof echoBackend>>;

function resources(): TypedAny[] {
  const stats = {
    ...hcm('r'),
    http_filters: [
      { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'source', workload: { workload: 'sleep', namespace: 'shop', labels: { app: 'sleep' } }, metrics: true }) },
      { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
    ],
  };
  return [
    cluster(podinfo),
    cla(podinfo, [{ port: backend.port }]),
    cluster(other),
    cla(other, []),
    listener('sidecar', 15001, [{ filter: stats }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: podinfo }] }]),
  ];
}

async function scrape(env: Env): Promise<{ prom: string; stats: string }> {
  assert.equal((await request(await env.port('sidecar'), '/', { host: 'podinfo.podinfo:9898' })).status, 200);
  return { prom: (await request(env.metricsPort, '/stats/prometheus')).body, stats: (await request(env.admin, '/stats')).body };
}

before(async () => {
  backend = await echoBackend();
  const statsMatcher = statsMatcherFromMetadata(metadata);
  assert.ok(statsMatcher);
  matched = await startProxy({ statsMatcher });
  plain = await startProxy();
  push(matched.proxy, resources());
  push(plain.proxy, resources());
});

after(async () => {
  await matched.close();
  await plain.close();
  backend.server.closeAllConnections();
  backend.server.close();
});

test('with a matcher: the included per-cluster stats and not the others; istio_*, server and cluster_manager stats stay', async () => {
  const { prom, stats } = await scrape(matched);
  assert.match(prom, /^envoy_cluster_upstream_rq_total\{cluster_name="outbound\|9898\|\|podinfo\.podinfo\.svc\.cluster\.local"\} 1$/m);
  assert.match(prom, /^envoy_cluster_upstream_rq_pending_overflow\{cluster_name="outbound\|80\|\|other\.example\.com"\} 0$/m);
  const otherRows = prom.split('\n').filter((l) => l.includes(`cluster_name="${other}"`));
  assert.deepEqual(otherRows, [`envoy_cluster_upstream_rq_pending_overflow{cluster_name="${other}"} 0`]);
  assert.match(prom, /^istio_requests_total\{.*reporter="source".*destination_service="podinfo\.podinfo\.svc\.cluster\.local".*\} 1$/m);
  assert.match(prom, /^envoy_server_live 1$/m);
  assert.match(prom, /^envoy_cluster_manager_active_clusters 2$/m);
  assert.deepEqual(
    stats.split('\n').filter((l) => l.startsWith(`cluster.${other}.`)),
    [`cluster.${other}.upstream_rq_pending_overflow: 0`],
  );
  assert.match(stats, /^server\.live: 1$/m);
  assert.match(stats, /^cluster\.outbound\|9898\|\|podinfo\.podinfo\.svc\.cluster\.local\.upstream_rq_2xx: 1$/m);
});

test('without a matcher: every stat, as before', async () => {
  const { prom, stats } = await scrape(plain);
  assert.equal(prom.split('\n').filter((l) => l.includes(`cluster_name="${other}"`)).length, 35);
  assert.match(prom, /^envoy_cluster_upstream_rq_total\{cluster_name="outbound\|80\|\|other\.example\.com"\} 0$/m);
  assert.match(prom, /^envoy_cluster_upstream_rq_total\{cluster_name="outbound\|9898\|\|podinfo\.podinfo\.svc\.cluster\.local"\} 1$/m);
  assert.match(prom, /^istio_requests_total\{/m);
  assert.match(stats, /^cluster\.outbound\|80\|\|other\.example\.com\.upstream_rq_total: 0$/m);
});

test('a bad regex in the metadata is refused at start, naming the field', () => {
  assert.throws(
    () => statsMatcherFromMetadata({ PROXY_CONFIG: { proxyStatsMatcher: { inclusionRegexps: ['.*ok', 'cluster\\.(outbound'] } } }),
    (err: Error & { code?: string }) => err.code === 'PROXY_ARGS' && err.message.includes('PROXY_CONFIG.proxyStatsMatcher.inclusionRegexps[1]') && err.message.includes('not an RE2 regex'),
  );
  assert.equal(statsMatcherFromMetadata({ NAMESPACE: 'shop' }), undefined);
});

test('{pod_ip} in a pattern stands for each of the INSTANCE_IPS, as in Istio', () => {
  const m = statsMatcherFromMetadata({ INSTANCE_IPS: '10.0.0.7,10.0.0.8', PROXY_CONFIG: { proxyStatsMatcher: { inclusionPrefixes: ['listener.{pod_ip}_'] } } });
  assert.equal(m?.includes('listener.10.0.0.8_15006.ssl.handshake'), true);
  assert.equal(m?.includes('listener.10.0.0.7_15006.ssl.handshake'), true);
  assert.equal(m?.includes('listener.0.0.0.0_8443.ssl.handshake'), false);
});
