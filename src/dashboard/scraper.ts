// Polls the proxies' Prometheus endpoints (`/stats/prometheus`) in rounds, each fetch bounded by a
// timeout and a size cap, and records each round's per-edge counters in the traffic history.
import type { Clock, TimerHandle } from '../controlplane/clock.ts';
import { countEdges, type EdgeCounters, scrapedFamilies } from './edge-counters.ts';
import { parseExposition } from './exposition.ts';
import { countOutliers, outlierFamilies, type TargetOutliers } from './outlier-counters.ts';
import type { ScrapeRound, TrafficHistory } from './traffic-history.ts';

/** The families a scrape keeps: Istio's request series and Envoy's outlier detection stats. */
const kept: ReadonlySet<string> = new Set([...scrapedFamilies, ...outlierFamilies]);

export interface ScrapeTarget {
  /** A stable name, e.g. `podinfo/podinfo-stable-0`: rates are computed per target. */
  name: string;
  /** `http://127.0.0.1:41240/stats/prometheus` */
  url: string;
}

export interface TargetHealth {
  name: string;
  url: string;
  up: boolean;
  /** Clock time of the last attempt (ms). */
  lastScrape: number;
  durationMs: number;
  edges: number;
  error?: string;
}

export interface ScraperOptions {
  targets: () => readonly ScrapeTarget[];
  history: TrafficHistory;
  clock: Clock;
  /** Time between rounds; 0 scrapes only on `scrapeNow()`. */
  intervalMs: number;
  timeoutMs: number;
  maxBytes: number;
  /** Targets fetched at the same time. */
  concurrency: number;
}

async function fetchText(url: string, timeoutMs: number, maxBytes: number): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'text/plain' } });
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw Object.assign(new Error(`HTTP ${res.status}`), { code: 'DASHBOARD_SCRAPE_STATUS' });
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      await res.body.cancel().catch(() => {});
      throw Object.assign(new Error(`response larger than ${maxBytes} bytes`), { code: 'DASHBOARD_SCRAPE_TOO_LARGE' });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export class Scraper {
  #o: ScraperOptions;
  #timer: TimerHandle | undefined;
  #inFlight: Promise<ScrapeRound> | undefined;
  #closed = false;
  #health = new Map<string, TargetHealth>();

  constructor(options: ScraperOptions) {
    this.#o = options;
  }

  /** Starts periodic rounds (the first one now) unless the interval is 0. */
  start(): void {
    if (this.#o.intervalMs > 0) void this.#tick();
  }

  /** Health of each target after its last attempt. */
  health(): TargetHealth[] {
    return [...this.#health.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Scrapes every target once and records the round; joins a round already in flight. */
  scrapeNow(): Promise<ScrapeRound> {
    this.#inFlight ??= this.#round().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
  }

  async #tick(): Promise<void> {
    if (this.#closed) return;
    await this.scrapeNow().catch(() => {});
    if (!this.#closed) this.#timer = this.#o.clock.setTimer(() => void this.#tick(), this.#o.intervalMs);
  }

  async #round(): Promise<ScrapeRound> {
    const targets = [...this.#o.targets()];
    const at = this.#o.clock.now();
    const results = new Map<string, ReadonlyMap<string, EdgeCounters>>();
    const outliers = new Map<string, TargetOutliers>();
    const seen = new Set<string>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < targets.length) {
        const t = targets[next++] as ScrapeTarget;
        seen.add(t.name);
        const started = performance.now();
        try {
          const text = await fetchText(t.url, this.#o.timeoutMs, this.#o.maxBytes);
          const samples = parseExposition(text, (n) => kept.has(n));
          const edges = countEdges(samples);
          results.set(t.name, edges);
          outliers.set(t.name, countOutliers(samples));
          this.#health.set(t.name, { name: t.name, url: t.url, up: true, lastScrape: at, durationMs: Math.round(performance.now() - started), edges: edges.size });
        } catch (err) {
          const e = err as Error & { cause?: { code?: string } };
          const reason = e.name === 'TimeoutError' ? `timed out after ${this.#o.timeoutMs} ms` : (e.cause?.code ?? e.message);
          this.#health.set(t.name, { name: t.name, url: t.url, up: false, lastScrape: at, durationMs: Math.round(performance.now() - started), edges: 0, error: reason });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(this.#o.concurrency, targets.length)) }, worker));
    for (const name of [...this.#health.keys()]) if (!seen.has(name)) this.#health.delete(name);
    const round: ScrapeRound = { at, targets: results, outliers };
    this.#o.history.record(round);
    return round;
  }
}
