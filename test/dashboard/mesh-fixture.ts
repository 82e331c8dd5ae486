// A small mesh for dashboard tests: a real control plane on the podinfo canary config, proxies'
// Prometheus endpoints served over real sockets from the real Istio metrics recorder, a real trace
// collector and CA. Traffic is recorded by hand, and the scraper's clock only moves when told to.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { ManualClock } from '../../src/controlplane/clock.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import type { Dashboard } from '../../src/dashboard/server.ts';
import { startDashboard } from '../../src/dashboard/server.ts';
import { IstioMetrics, type MetricEdge } from '../../src/telemetry/istio-metrics.ts';
import { MetricsRegistry } from '../../src/telemetry/metrics/registry.ts';
import { TraceCollector } from '../../src/telemetry/tracing/collector.ts';
import { toOtlpRequest } from '../../src/telemetry/tracing/span.ts';
import { type WorkloadLabels, workloadLabels } from '../../src/telemetry/workload-labels.ts';

const config = `apiVersion: v1
kind: Namespace
metadata: {name: podinfo, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: podinfo, namespace: podinfo}
spec: {selector: {app: podinfo}, ports: [{name: http, port: 9898}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: podinfo-stable, namespace: podinfo}
spec:
  selector: {matchLabels: {app: podinfo, version: stable}}
  template:
    metadata: {labels: {app: podinfo, version: stable}}
    spec: {containers: [{name: podinfo, image: ghcr.io/stefanprodan/podinfo, ports: [{containerPort: 9898}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: podinfo-canary, namespace: podinfo}
spec:
  selector: {matchLabels: {app: podinfo, version: canary}}
  template:
    metadata: {labels: {app: podinfo, version: canary}}
    spec: {containers: [{name: podinfo, image: ghcr.io/stefanprodan/podinfo, ports: [{containerPort: 9898}]}]}
`;

/** One proxy's `/stats/prometheus`, rendered by the real registry on every request. */
export class MetricsTarget {
  registry = new MetricsRegistry();
  metrics = new IstioMetrics(this.registry);
  #server: Server;
  url = '';

  constructor() {
    this.#server = createServer((req, res) => {
      if (req.url !== '/stats/prometheus') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(this.registry.renderPrometheus());
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/stats/prometheus`;
    return this;
  }

  /** The proxy restarted: its counters start again from zero. */
  restart(): void {
    this.registry = new MetricsRegistry();
    this.metrics = new IstioMetrics(this.registry);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}

const podinfo = { host: 'podinfo.podinfo.svc.cluster.local', name: 'podinfo', namespace: 'podinfo' };
export const gateway: WorkloadLabels = workloadLabels({ workload: 'istio-ingressgateway', namespace: 'istio-system', labels: { app: 'istio-ingressgateway' } });
export const stable: WorkloadLabels = workloadLabels({ workload: 'podinfo-stable', namespace: 'podinfo', labels: { app: 'podinfo', version: 'stable' } });
export const canary: WorkloadLabels = workloadLabels({ workload: 'podinfo-canary', namespace: 'podinfo', labels: { app: 'podinfo', version: 'canary' } });

export class MeshFixture {
  dir = '';
  clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
  cp!: ControlPlane;
  ca!: CertificateAuthority;
  collector = new TraceCollector();
  targets = { gateway: new MetricsTarget(), stable: new MetricsTarget(), canary: new MetricsTarget() };
  /** A target nobody listens on: the scraper must report it down and carry on. */
  deadUrl = '';
  dashboard!: Dashboard;

  async start(): Promise<this> {
    this.dir = await mkdtemp(path.join(tmpdir(), 'or-dash-'));
    await writeFile(path.join(this.dir, 'mesh.yaml'), config);
    this.ca = await CertificateAuthority.ephemeral();
    this.cp = await ControlPlane.start({ configPaths: [this.dir], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, clock: this.clock, ca: this.ca, log: () => {} });
    for (const t of Object.values(this.targets)) await t.listen();
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    this.deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}/stats/prometheus`;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    this.dashboard = await startDashboard({
      controlPlane: this.cp,
      collector: this.collector,
      ca: this.ca,
      clock: this.clock,
      scrapeIntervalMs: 0,
      scrapeTimeoutMs: 2000,
      address: '127.0.0.1:0',
      scrapeTargets: () => [
        { name: 'istio-system/istio-ingressgateway', url: this.targets.gateway.url },
        { name: 'podinfo/podinfo-stable-0', url: this.targets.stable.url },
        { name: 'podinfo/podinfo-canary-0', url: this.targets.canary.url },
        { name: 'podinfo/gone-0', url: this.deadUrl },
      ],
    });
    return this;
  }

  /**
   * Requests through the gateway to podinfo, as both sidecars report them: the gateway as source,
   * each podinfo workload as destination. `slow` of them take 400 ms, the rest 3 ms.
   */
  traffic(to: 'stable' | 'canary', n: number, opts: { errors?: number; slow?: number } = {}): void {
    const dst = to === 'stable' ? stable : canary;
    const edges: MetricEdge[] = [
      this.targets.gateway.metrics.edge('source', gateway, dst, podinfo, 'mutual_tls'),
      this.targets[to].metrics.edge('destination', gateway, dst, podinfo, 'mutual_tls'),
    ];
    const errors = opts.errors ?? 0;
    const slow = opts.slow ?? 0;
    for (let i = 0; i < n; i++) {
      const code = i < errors ? 503 : 200;
      const ms = i >= n - slow ? 400 : 3;
      for (const e of edges) e.record('http', code, -1, code === 503 ? 'UF' : '-', ms, 0, 512);
    }
  }

  /** One trace: gateway server span → gateway client span → podinfo server span. */
  trace(traceId: string, startMs: number, error = false): void {
    const span = (spanId: string, parent: string | undefined, name: string, kind: 'SERVER' | 'CLIENT', from: number, to: number) => ({
      traceId,
      spanId,
      ...(parent ? { parentSpanId: parent } : {}),
      name,
      kind,
      startMs: startMs + from,
      endMs: startMs + to,
      attributes: { 'http.status_code': error ? 503 : 200, 'http.method': 'GET' },
      error,
    });
    const a = `${traceId.slice(0, 15)}a`;
    const b = `${traceId.slice(0, 15)}b`;
    const c = `${traceId.slice(0, 15)}c`;
    this.collector.ingest(toOtlpRequest('istio-ingressgateway.istio-system', {}, [span(a, undefined, 'podinfo.example.com:8080/*', 'SERVER', 0, 12), span(b, a, 'podinfo.podinfo.svc.cluster.local:9898/*', 'CLIENT', 1, 11)]));
    this.collector.ingest(toOtlpRequest('podinfo-stable.podinfo', {}, [span(c, b, 'podinfo.podinfo.svc.cluster.local:9898/*', 'SERVER', 2, 10)]));
  }

  async get<T>(p: string): Promise<{ status: number; body: T }> {
    const res = await fetch(new URL(p, this.dashboard.url));
    return { status: res.status, body: (await res.json()) as T };
  }

  async close(): Promise<void> {
    await this.dashboard.close();
    for (const t of Object.values(this.targets)) await t.close();
    await this.cp.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}
