// The dashboard's JSON API: one function from a GET path to a status and body, so the HTTP server
// stays a thin shell. Every answer is computed from live state on request.
import type { CertificateAuthority } from '../ca/certificate-authority.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import type { TraceCollector } from '../telemetry/tracing/collector.ts';
import type { AdsConnection } from '../xds/ads-server.ts';
import { certificatesReport } from './certificates-view.ts';
import { buildGraph } from './graph.ts';
import { proxiesReport } from './proxies-view.ts';
import type { Scraper } from './scraper.ts';
import { serviceDetail, serviceRows } from './services-view.ts';
import { traceDetail, traceList } from './traces-view.ts';
import type { TrafficHistory } from './traffic-history.ts';

/** The parts of the control plane the dashboard reads. */
export interface MeshSource {
  readonly snapshot: MeshSnapshot;
  readonly connections: readonly AdsConnection[];
}

export interface ApiContext {
  mesh: MeshSource;
  history: TrafficHistory;
  scraper: Scraper;
  collector: TraceCollector | undefined;
  ca: CertificateAuthority | undefined;
  /** Clock time (ms): ages and sync state. */
  now: () => number;
  /** Wall time (ms): certificate expiry is judged against real time. */
  wallNow: () => number;
  defaultWindowSeconds: number;
}

export interface ApiAnswer {
  status: number;
  body: unknown;
}

export const apiEndpoints = [
  '/api/graph?window=SECONDS',
  '/api/services?window=SECONDS',
  '/api/services/NAMESPACE/NAME?window=SECONDS',
  '/api/traces?service=NAME&limit=N',
  '/api/traces/TRACE_ID',
  '/api/proxies',
  '/api/certificates',
] as const;

function bounded(text: string | null, fallback: number, min: number, max: number): number {
  const v = text === null ? Number.NaN : Number(text);
  return Number.isFinite(v) ? Math.min(max, Math.max(min, Math.floor(v))) : fallback;
}

export async function answerApi(ctx: ApiContext, url: URL): Promise<ApiAnswer> {
  const q = url.searchParams;
  const window = () => ctx.history.window(bounded(q.get('window'), ctx.defaultWindowSeconds, 1, 3600) * 1000);
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const [, resource, a, b] = parts;
  switch (resource) {
    case 'graph':
      if (parts.length === 2) return { status: 200, body: buildGraph(ctx.mesh.snapshot, ctx.mesh.connections, window()) };
      break;
    case 'services': {
      if (parts.length === 2) {
        const w = window();
        return { status: 200, body: { at: w?.to ?? null, windowSeconds: Math.round(w?.seconds ?? 0), services: serviceRows(ctx.mesh.snapshot, w) } };
      }
      if (parts.length === 4 && a && b) {
        const d = serviceDetail(ctx.mesh.snapshot, a, b, window(), ctx.history.intervals());
        return d ? { status: 200, body: d } : { status: 404, body: { error: `no service ${a}/${b}`, code: 'DASHBOARD_NO_SERVICE' } };
      }
      break;
    }
    case 'traces': {
      if (parts.length === 2) {
        const service = q.get('service') || undefined;
        return { status: 200, body: { enabled: ctx.collector !== undefined, traces: traceList(ctx.collector, service, bounded(q.get('limit'), 50, 1, 500)) } };
      }
      if (parts.length === 3 && a) {
        const t = traceDetail(ctx.collector, a);
        return t ? { status: 200, body: t } : { status: 404, body: { error: `no trace ${a}`, code: 'DASHBOARD_NO_TRACE' } };
      }
      break;
    }
    case 'proxies':
      if (parts.length === 2) return { status: 200, body: proxiesReport(ctx.mesh.connections, ctx.scraper.health(), ctx.now()) };
      break;
    case 'certificates':
      if (parts.length === 2) return { status: 200, body: await certificatesReport(ctx.ca, ctx.wallNow()) };
      break;
  }
  return { status: 404, body: { error: 'not found', code: 'DASHBOARD_NOT_FOUND', endpoints: apiEndpoints } };
}
