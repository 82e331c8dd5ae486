// The service graph from the text two sidecars serve on /stats/prometheus: a request between two sidecars
// is counted once, from the source reporter, over mutual TLS or in plaintext alike, and marked with the
// security the destination reported; a caller outside the mesh is counted from the destination reporter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildSnapshot } from '../model/snapshot.ts';
import { IstioMetrics } from '../telemetry/istio-metrics.ts';
import { MetricsRegistry } from '../telemetry/metrics/registry.ts';
import { workloadLabels } from '../telemetry/workload-labels.ts';
import { countEdges, scrapedFamilies } from './edge-counters.ts';
import { parseExposition } from './exposition.ts';
import { buildGraph, type ServiceGraph } from './graph.ts';
import { increaseOver } from './traffic-history.ts';

interface Peer {
  workload: string;
  namespace: string;
  app: string;
  version: string;
  canonicalRevision: string;
}
const sleep: Peer = { workload: 'sleep', namespace: 'podinfo', app: 'sleep', version: 'unknown', canonicalRevision: 'latest' };
const stable: Peer = { workload: 'podinfo-stable', namespace: 'podinfo', app: 'podinfo', version: 'stable', canonicalRevision: 'stable' };
const outside: Peer = { workload: 'unknown', namespace: 'unknown', app: 'unknown', version: 'unknown', canonicalRevision: 'latest' };
const BUCKETS = ['0.5', '1', '5', '10', '25', '50', '100', '250', '500', '1000', '2500', '5000', '10000', '30000', '60000', '300000', '600000', '1800000', '3600000', '+Inf'];

/**
 * One sidecar's series for `n` answered requests of 3 ms, label for label as a sidecar renders them (the
 * first test checks that against the recorder). A source reports `connection_security_policy="unknown"`.
 */
function series(reporter: 'source' | 'destination', src: Peer, dst: Peer, n: number, security: 'mutual_tls' | 'none' | 'unknown'): string {
  const known = (p: Peer, v: string) => (p.workload === 'unknown' ? 'unknown' : v);
  const labels = [
    `reporter="${reporter}"`,
    `source_workload="${src.workload}"`,
    `source_workload_namespace="${src.namespace}"`,
    'source_principal="unknown"',
    `source_app="${src.app}"`,
    `source_version="${src.version}"`,
    `source_cluster="${known(src, 'Kubernetes')}"`,
    `source_canonical_service="${src.app}"`,
    `source_canonical_revision="${src.canonicalRevision}"`,
    `destination_workload="${dst.workload}"`,
    `destination_workload_namespace="${dst.namespace}"`,
    'destination_principal="unknown"',
    `destination_app="${dst.app}"`,
    `destination_version="${dst.version}"`,
    'destination_service="podinfo.podinfo.svc.cluster.local"',
    'destination_service_name="podinfo"',
    'destination_service_namespace="podinfo"',
    `destination_cluster="${known(dst, 'Kubernetes')}"`,
    `destination_canonical_service="${dst.app}"`,
    `destination_canonical_revision="${dst.canonicalRevision}"`,
    'request_protocol="http"',
    'response_code="200"',
    'grpc_response_status=""',
    'response_flags="-"',
    `connection_security_policy="${security}"`,
  ].join(',');
  return [
    `istio_requests_total{${labels}} ${n}`,
    ...BUCKETS.map((le) => `istio_request_duration_milliseconds_bucket{${labels},le="${le}"} ${Number(le) < 5 ? 0 : n}`),
    `istio_request_duration_milliseconds_sum{${labels}} ${3 * n}`,
    `istio_request_duration_milliseconds_count{${labels}} ${n}`,
  ].join('\n');
}

const exposition = (...parts: string[]): string =>
  ['# HELP istio_requests_total Requests handled by the proxy, by Istio labels.', '# TYPE istio_requests_total counter', ...parts, ''].join('\n');

/** The graph over 10 s between an empty scrape and one of `scrapes` (target name → its /stats/prometheus text). */
function graphOf(scrapes: Record<string, string>): ServiceGraph {
  const names = Object.keys(scrapes);
  const interval = increaseOver([
    { at: 0, targets: new Map(names.map((name) => [name, new Map()])) },
    { at: 10_000, targets: new Map(names.map((name) => [name, countEdges(parseExposition(scrapes[name] as string, (f) => scrapedFamilies.has(f)))])) },
  ]);
  return buildGraph(buildSnapshot([], [], '1'), [], interval);
}

/** The edges that carried traffic: `source > target` → requests, rps and mTLS share. */
const busy = (g: ServiceGraph) => Object.fromEntries(g.edges.filter((e) => e.stats.requests > 0).map((e) => [e.id, [e.stats.requests, e.stats.rps, e.stats.mtlsRatio]]));

test('mTLS between two sidecars: counted once, from the source reporter, marked mTLS', () => {
  // The fixture is the sidecars' own text: the recorder renders the same series.
  const r = new MetricsRegistry();
  const m = new IstioMetrics(r);
  const labels = (p: Peer) => workloadLabels({ workload: p.workload, namespace: p.namespace, labels: p.version === 'unknown' ? { app: p.app } : { app: p.app, version: p.version } });
  const svc = { host: 'podinfo.podinfo.svc.cluster.local', name: 'podinfo', namespace: 'podinfo' };
  for (let i = 0; i < 20; i++) m.edge('destination', labels(sleep), labels(stable), svc, 'mutual_tls').record('http', 200, -1, '-', 3, 0, 0);
  const rendered = r.renderPrometheus();
  for (const line of series('destination', sleep, stable, 20, 'mutual_tls').split('\n')) assert.ok(rendered.includes(`${line}\n`), line);

  const g = graphOf({
    'podinfo/sleep-0': exposition(series('source', sleep, stable, 20, 'unknown')),
    'podinfo/podinfo-stable-0': exposition(series('destination', sleep, stable, 20, 'mutual_tls')),
  });
  assert.deepEqual(busy(g), {
    'service:podinfo/podinfo>workload:podinfo/podinfo-stable': [20, 2, 1],
    'workload:podinfo/sleep>service:podinfo/podinfo': [20, 2, 1],
  });
  assert.equal(g.nodes.find((n) => n.id === 'service:podinfo/podinfo')?.stats.requests, 20);
  assert.equal(g.nodes.find((n) => n.id === 'unknown'), undefined);
});

test('plaintext between two sidecars (PERMISSIVE, DestinationRule DISABLE): counted once, from the source reporter, marked plaintext', () => {
  const g = graphOf({
    'podinfo/sleep-0': exposition(series('source', sleep, stable, 20, 'unknown')),
    'podinfo/podinfo-stable-0': exposition(series('destination', sleep, stable, 20, 'none')),
  });
  assert.deepEqual(busy(g), {
    'service:podinfo/podinfo>workload:podinfo/podinfo-stable': [20, 2, 0],
    'workload:podinfo/sleep>service:podinfo/podinfo': [20, 2, 0],
  });
  assert.equal(g.nodes.find((n) => n.id === 'service:podinfo/podinfo')?.stats.requests, 20);
  assert.equal(g.nodes.find((n) => n.id === 'workload:podinfo/podinfo-stable')?.stats.p50, 3, 'all 20 in the (1, 5] ms bucket');
  assert.equal(g.nodes.find((n) => n.id === 'unknown'), undefined);
});

test('from outside the mesh to a sidecar: counted from the destination reporter, marked plaintext', () => {
  const g = graphOf({
    'podinfo/sleep-0': exposition(),
    'podinfo/podinfo-stable-0': exposition(series('destination', outside, stable, 20, 'none')),
  });
  assert.deepEqual(busy(g), {
    'service:podinfo/podinfo>workload:podinfo/podinfo-stable': [20, 2, 0],
    'unknown>service:podinfo/podinfo': [20, 2, 0],
  });
  assert.equal(g.nodes.find((n) => n.id === 'unknown')?.kind, 'unknown');
});

test('a source report no workload answered (fault abort, UO, FI) names no service namespace, as Istio: the service host gives it', () => {
  // Istio's source reporter takes destination_service_namespace from the peer that answered: none here.
  const unanswered = series('source', sleep, outside, 20, 'unknown').replaceAll('destination_service_namespace="podinfo"', 'destination_service_namespace="unknown"').replaceAll('response_code="200"', 'response_code="503"');
  const g = graphOf({ 'podinfo/sleep-0': exposition(unanswered) });
  // No destination sidecar reported a security policy for them: no mTLS share (Kiali draws none).
  assert.deepEqual(busy(g), { 'workload:podinfo/sleep>service:podinfo/podinfo': [20, 2, null] });
  assert.equal(g.nodes.find((n) => n.id === 'service:podinfo/podinfo')?.stats.errors, 20);
  assert.equal(g.nodes.find((n) => n.id === 'service:unknown/podinfo'), undefined);
});
