// The dashboard on port 20001: the UI and its JSON API, served by the control plane, with a scraper
// that polls the proxies' Prometheus endpoints for request rates, errors and latency.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CertificateAuthority } from '../ca/certificate-authority.ts';
import type { Clock } from '../controlplane/clock.ts';
import { systemClock } from '../controlplane/clock.ts';
import { isLoopbackHostHeader, isLoopbackName } from '../controlplane/loopback-request.ts';
import type { TraceCollector } from '../telemetry/tracing/collector.ts';
import { answerApi, type MeshSource } from './api.ts';
import { loadAssets } from './static-assets.ts';
import { type ScrapeRound, TrafficHistory } from './traffic-history.ts';
import { type ScrapeTarget, Scraper } from './scraper.ts';

export interface DashboardOptions {
  /** The control plane (or anything with its `snapshot` and `connections`). */
  controlPlane: MeshSource;
  collector?: TraceCollector;
  ca?: CertificateAuthority;
  /** Asked before every scrape round, so proxies that come and go are followed. */
  scrapeTargets: () => readonly ScrapeTarget[];
  /** `host:port`; default `127.0.0.1:20001`. Port 0 picks a free port. */
  address?: string;
  clock?: Clock;
  /** Default 5000; 0 scrapes only when `scrapeNow()` is called. */
  scrapeIntervalMs?: number;
  scrapeTimeoutMs?: number;
  /** Rates are taken over this window unless the request says `?window=`; default 60 s. */
  windowSeconds?: number;
  /** Scrape rounds kept (default 120: 10 minutes at 5 s). */
  historySize?: number;
}

export interface Dashboard {
  /** `http://host:port/` */
  url: string;
  address: string;
  /** Scrapes every target now (joins a round in flight). */
  scrapeNow(): Promise<ScrapeRound>;
  close(): Promise<void>;
}

const securityHeaders = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', ...securityHeaders });
  res.end(JSON.stringify(body));
}

export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const clock = o.clock ?? systemClock;
  const history = new TrafficHistory(o.historySize ?? 120);
  const scraper = new Scraper({
    targets: o.scrapeTargets,
    history,
    clock,
    intervalMs: o.scrapeIntervalMs ?? 5000,
    timeoutMs: o.scrapeTimeoutMs ?? 2000,
    maxBytes: 16 * 1024 * 1024,
    concurrency: 8,
  });
  const assets = loadAssets();
  const ctx = {
    mesh: o.controlPlane,
    history,
    scraper,
    collector: o.collector,
    ca: o.ca,
    now: () => clock.now(),
    wallNow: () => Date.now(),
    defaultWindowSeconds: o.windowSeconds ?? 60,
  };

  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'GET only', code: 'DASHBOARD_METHOD' });
    // Bound on loopback, it answers only a loopback Host: a page of another site whose name a DNS
    // rebinding points at 127.0.0.1 must not read the mesh (its traces hold URLs, queries included).
    // (src/controlplane/loopback-request.ts, which the debug API on 15014 shares.)
    if (isLoopbackName(host) && !isLoopbackHostHeader(req.headers.host)) return json(res, 421, { error: 'this dashboard answers http://127.0.0.1 or http://localhost only', code: 'DASHBOARD_HOST' });
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://dashboard');
    } catch {
      return json(res, 400, { error: 'bad request target', code: 'DASHBOARD_BAD_URL' });
    }
    if (url.pathname.startsWith('/api/')) {
      answerApi(ctx, url).then(
        (a) => json(res, a.status, a.body),
        (err: Error) => json(res, err instanceof URIError ? 400 : 500, { error: err.message, code: (err as { code?: string }).code ?? 'DASHBOARD_INTERNAL' }),
      );
      return;
    }
    // Kiali's UI lives under /kiali; the seed's README opens that path.
    const asset = assets.get(url.pathname === '/kiali' || url.pathname === '/kiali/' ? '/' : url.pathname);
    if (!asset) return json(res, 404, { error: 'not found', code: 'DASHBOARD_NOT_FOUND' });
    res.writeHead(200, { 'content-type': asset.type, 'content-length': asset.body.length, ...securityHeaders });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  const address = o.address ?? '127.0.0.1:20001';
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).toLowerCase();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(address.slice(i + 1)), host.replace(/^\[|\]$/g, ''), () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  scraper.start();
  const bound = `${host}:${port}`;
  return {
    url: `http://${bound}/`,
    address: bound,
    scrapeNow: () => scraper.scrapeNow(),
    close: () =>
      new Promise<void>((resolve) => {
        scraper.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
