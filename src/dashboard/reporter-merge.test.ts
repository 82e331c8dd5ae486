// Both sidecars' reports of the same requests, recorded by the real Istio metrics recorder, rendered,
// parsed and folded as a scrape is: each request is counted once, under the service the client called.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IstioMetrics, type ServiceLabels } from '../telemetry/istio-metrics.ts';
import { MetricsRegistry } from '../telemetry/metrics/registry.ts';
import { unknownWorkload, type WorkloadLabels, workloadLabels } from '../telemetry/workload-labels.ts';
import { countEdges, scrapedFamilies } from './edge-counters.ts';
import { parseExposition } from './exposition.ts';
import { increaseOver } from './traffic-history.ts';
import { trafficStats } from './traffic-stats.ts';

const svc = (name: string): ServiceLabels => ({ host: `${name}.podinfo.svc.cluster.local`, name, namespace: 'podinfo' });
const gateway = workloadLabels({ workload: 'istio-ingressgateway', namespace: 'istio-system', labels: { app: 'istio-ingressgateway' } });
const sleep = workloadLabels({ workload: 'sleep', namespace: 'podinfo', labels: { app: 'sleep' } });
const stable = workloadLabels({ workload: 'podinfo-stable', namespace: 'podinfo', labels: { app: 'podinfo', version: 'stable' } });
const canary = workloadLabels({ workload: 'podinfo-canary', namespace: 'podinfo', labels: { app: 'podinfo', version: 'canary' } });

/** One proxy's recorder; `scraped()` is what the dashboard reads from its `/stats/prometheus`. */
class ProxyMetrics {
  #registry = new MetricsRegistry();
  #metrics = new IstioMetrics(this.#registry);

  record(reporter: 'source' | 'destination', from: WorkloadLabels, to: WorkloadLabels, service: ServiceLabels, n: number, security: 'mutual_tls' | 'none' = 'mutual_tls', code = 200, flags = code === 200 ? '-' : 'UH'): this {
    const e = this.#metrics.edge(reporter, from, to, service, reporter === 'source' ? 'unknown' : security);
    for (let i = 0; i < n; i++) e.record('http', code, -1, flags, 3, 0, 100);
    return this;
  }

  /** `n` TCP connections of `bytes` each way; a source reports `unknown` security, as in Istio. */
  tcp(reporter: 'source' | 'destination', from: WorkloadLabels, to: WorkloadLabels, service: ServiceLabels, n: number, bytes: number, security: 'mutual_tls' | 'none' = 'mutual_tls', flags = '-'): this {
    const t = this.#metrics.edge(reporter, from, to, service, reporter === 'source' ? 'unknown' : security).tcp(flags);
    t.opened.value += n;
    t.sent.value += n * bytes;
    t.received.value += n * bytes;
    return this;
  }

  scraped() {
    return countEdges(parseExposition(this.#registry.renderPrometheus(), (n) => scrapedFamilies.has(n)));
  }
}

/** The interval between an empty first scrape and one after the traffic, as the scraper folds it. */
function interval(proxies: Record<string, ProxyMetrics>) {
  const empty = new Map(Object.keys(proxies).map((name) => [name, new Map()]));
  const after = new Map(Object.entries(proxies).map(([name, p]) => [name, p.scraped()]));
  return increaseOver([
    { at: 0, targets: empty },
    { at: 10_000, targets: after },
  ]).edges;
}

const byService = (edges: ReturnType<typeof interval>) => {
  const out: Record<string, { requests: number; mtlsRatio: number | null }> = {};
  for (const name of new Set(edges.map((e) => e.identity.serviceName))) {
    const s = trafficStats(
      edges.filter((e) => e.identity.serviceName === name),
      10,
    );
    out[name] = { requests: s.requests, mtlsRatio: s.mtlsRatio };
  }
  return out;
};

test("a workload behind several services: the destination names its cluster's first service, the source the one it called; counted once, under the source's", () => {
  // 50 requests through the gateway to `podinfo`, split 40/10; each sidecar names its own first service.
  const edges = interval({
    gateway: new ProxyMetrics().record('source', gateway, stable, svc('podinfo'), 40).record('source', gateway, canary, svc('podinfo'), 10),
    stable: new ProxyMetrics().record('destination', gateway, stable, svc('podinfo-stable'), 40),
    canary: new ProxyMetrics().record('destination', gateway, canary, svc('podinfo-canary'), 10),
  });
  assert.deepEqual(byService(edges), { podinfo: { requests: 50, mtlsRatio: 1 } });
  assert.deepEqual(
    edges.map((e) => [e.identity.reporter, e.identity.destinationWorkload, e.requests]).sort(),
    [
      ['source', 'podinfo-canary', 10],
      ['source', 'podinfo-stable', 40],
    ],
  );
});

test('the mTLS share is the destination\'s for the pair, spread over the services the source called', () => {
  // `sleep` calls both `podinfo` and `podinfo-stable`; the stable sidecar names `podinfo-stable` for all 40,
  // 30 of them over mutual TLS, 10 in plaintext.
  const edges = interval({
    sleep: new ProxyMetrics().record('source', sleep, stable, svc('podinfo'), 30).record('source', sleep, stable, svc('podinfo-stable'), 10),
    stable: new ProxyMetrics().record('destination', sleep, stable, svc('podinfo-stable'), 30).record('destination', sleep, stable, svc('podinfo-stable'), 10, 'none'),
  });
  assert.deepEqual(byService(edges), { podinfo: { requests: 30, mtlsRatio: 0.75 }, 'podinfo-stable': { requests: 10, mtlsRatio: 0.75 } });
});

test('one report alone counts: no destination sidecar answered, no source sidecar called, or its proxy was not scraped', () => {
  const edges = interval({
    // No endpoint: the gateway answered 503 itself, so no destination workload and no destination report.
    gateway: new ProxyMetrics().record('source', gateway, unknownWorkload, svc('podinfo'), 5, 'mutual_tls', 503),
    stable: new ProxyMetrics()
      // A caller outside the mesh, in plaintext.
      .record('destination', unknownWorkload, stable, svc('podinfo-stable'), 7, 'none')
      // `sleep`'s own proxy is not among the targets.
      .record('destination', sleep, stable, svc('podinfo-stable'), 3),
  });
  // The gateway's 503s reached no sidecar, so no security policy was reported for them: no mTLS share.
  assert.deepEqual(byService(edges), { podinfo: { requests: 5, mtlsRatio: null }, 'podinfo-stable': { requests: 10, mtlsRatio: 0.3 } });
});

test('circuit-breaker overflow (UO) replies count as requests and 5xx but stay out of the mTLS share, as in Kiali', () => {
  // 40 requests reach the stable pod over mutual TLS; 10 more overflow the breaker at the gateway's sidecar,
  // which answers 503 UO itself: no upstream, so the source reports no destination workload and no
  // destination sidecar reports them (Istio: `connection_security_policy="unknown"`).
  const edges = interval({
    gateway: new ProxyMetrics().record('source', gateway, stable, svc('podinfo'), 40).record('source', gateway, unknownWorkload, svc('podinfo'), 10, 'mutual_tls', 503, 'UO'),
    stable: new ProxyMetrics().record('destination', gateway, stable, svc('podinfo-stable'), 40),
  });
  const s = trafficStats(edges, 10);
  assert.deepEqual([s.requests, s.errors, s.mtlsRatio], [50, 10, 1]);
});

test("TCP: the mTLS share is the destination's sent bytes by security policy (Kiali's TCP query); a refused connection has none", () => {
  const db = workloadLabels({ workload: 'db', namespace: 'podinfo', labels: { app: 'db' } });
  const tcpSvc: ServiceLabels = { host: 'db.podinfo.svc.cluster.local', name: 'db', namespace: 'podinfo' };
  const meshed = interval({
    sleep: new ProxyMetrics().tcp('source', sleep, db, tcpSvc, 4, 500),
    db: new ProxyMetrics().tcp('destination', sleep, db, tcpSvc, 3, 500).tcp('destination', sleep, db, tcpSvc, 1, 500, 'none'),
  });
  assert.equal(trafficStats(meshed, 10).mtlsRatio, 0.75);
  // No endpoint answered: the source alone reports the connection (UF), with no security policy.
  const refused = interval({ sleep: new ProxyMetrics().tcp('source', sleep, unknownWorkload, tcpSvc, 2, 0, 'mutual_tls', 'UF') });
  assert.equal(trafficStats(refused, 10).mtlsRatio, null);
});
