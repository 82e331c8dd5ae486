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

/** A query parameter that is not what the endpoint takes: answered 400, as Prometheus' API answers bad_data. */
class BadParameter extends Error {}

/**
 * A number parameter in `min..max` (decimals floored), `fallback` when absent. Anything else (`abc`, `-5`,
 * `0x10`, an empty value, one out of range) is refused rather than silently replaced by a default.
 */
function bounded(q: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const text = q.get(name);
  if (text === null) return fallback;
  const v = /^\d+(\.\d+)?$/.test(text) ? Math.floor(Number(text)) : Number.NaN;
  if (!(v >= min && v <= max)) throw new BadParameter(`${name} must be a number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return v;
}

function decodeParts(pathname: string): string[] | undefined {
  try {
    return pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

export async function answerApi(ctx: ApiContext, url: URL): Promise<ApiAnswer> {
  try {
    return await route(ctx, url);
  } catch (err) {
    if (err instanceof BadParameter) return { status: 400, body: { error: err.message, code: 'DASHBOARD_BAD_PARAM' } };
    throw err;
  }
}

async function route(ctx: ApiContext, url: URL): Promise<ApiAnswer> {
  const q = url.searchParams;
  const windowSeconds = bounded(q, 'window', ctx.defaultWindowSeconds, 1, 3600);
  const window = () => ctx.history.window(windowSeconds * 1000);
  const parts = decodeParts(url.pathname);
  if (!parts) return { status: 400, body: { error: `malformed percent-encoding in ${url.pathname}`, code: 'DASHBOARD_BAD_URL' } };
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
        return { status: 200, body: { enabled: ctx.collector !== undefined, traces: traceList(ctx.collector, service, bounded(q, 'limit', 50, 1, 500)) } };
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
