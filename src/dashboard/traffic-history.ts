// The short memory of the scraper: a ring of scrape rounds (per proxy, per edge counters) and the
// increases between two rounds, each request counted once though both its sidecars report it.
import type { EdgeCounters } from './edge-counters.ts';
import { outliersOver, type ServiceOutlier, type TargetOutliers } from './outlier-counters.ts';
import { mergeReporters } from './reporter-merge.ts';
import { Ring } from './ring.ts';

export interface ScrapeRound {
  /** Clock time of the round (ms). */
  at: number;
  /** Target name → its edges, for the targets that answered. */
  targets: ReadonlyMap<string, ReadonlyMap<string, EdgeCounters>>;
  /** Target name → its clusters' outlier detection stats, for the targets that answered. */
  outliers?: ReadonlyMap<string, TargetOutliers>;
}

/** What an edge did between two rounds: its counters' fields, each the increase (buckets still cumulative by bound). */
export type EdgeDelta = EdgeCounters;

export interface Interval {
  from: number;
  to: number;
  /** Seconds between the two rounds. */
  seconds: number;
  edges: EdgeDelta[];
  /** Service host → its endpoints ejected at the end and ejections during the interval (outlier detection). */
  outliers?: ReadonlyMap<string, ServiceOutlier>;
}

// A counter that went down was reset (the proxy restarted): the new value is the increase.
const increase = (now: number, before: number | undefined): number => (before === undefined || now < before ? now : now - before);

function delta(now: EdgeCounters, before: EdgeCounters | undefined): EdgeDelta {
  const reset = before !== undefined && now.requests < before.requests;
  const prev = reset ? undefined : before;
  const buckets = new Map<number, number>();
  for (const [le, c] of now.buckets) buckets.set(le, increase(c, prev?.buckets.get(le)));
  return {
    identity: now.identity,
    protocol: now.protocol,
    requests: increase(now.requests, prev?.requests),
    errors: increase(now.errors, prev?.errors),
    mtls: increase(now.mtls, prev?.mtls),
    secured: increase(now.secured, prev?.secured),
    durationSum: increase(now.durationSum, prev?.durationSum),
    buckets,
    tcpOpened: increase(now.tcpOpened, prev?.tcpOpened),
    tcpBytes: increase(now.tcpBytes, prev?.tcpBytes),
    tcpMtls: increase(now.tcpMtls, prev?.tcpMtls),
    tcpSecured: increase(now.tcpSecured, prev?.tcpSecured),
  };
}

function add(acc: Map<string, EdgeDelta>, key: string, d: EdgeDelta): void {
  const a = acc.get(key);
  if (!a) {
    acc.set(key, d);
    return;
  }
  a.requests += d.requests;
  a.errors += d.errors;
  a.mtls += d.mtls;
  a.secured += d.secured;
  a.durationSum += d.durationSum;
  a.tcpOpened += d.tcpOpened;
  a.tcpBytes += d.tcpBytes;
  a.tcpMtls += d.tcpMtls;
  a.tcpSecured += d.tcpSecured;
  if (d.protocol !== 'http') a.protocol = d.protocol;
  for (const [le, c] of d.buckets) a.buckets.set(le, (a.buckets.get(le) ?? 0) + c);
}

/**
 * The increase over consecutive rounds (oldest first). Like Prometheus' increase(), each target's
 * counters are compared sample to sample, so a reset or a missed scrape in between loses nothing
 * but the scrape itself.
 */
export function increaseOver(rounds: readonly ScrapeRound[]): Interval {
  const first = rounds[0];
  const last = rounds.at(-1);
  const acc = new Map<string, EdgeDelta>();
  const names = new Set<string>();
  for (const r of rounds) for (const name of r.targets.keys()) names.add(name);
  for (const name of names) {
    let prev: ReadonlyMap<string, EdgeCounters> | undefined;
    for (const r of rounds) {
      const cur = r.targets.get(name);
      if (!cur) continue;
      if (prev) for (const [key, counters] of cur) add(acc, key, delta(counters, prev.get(key)));
      prev = cur;
    }
  }
  const edges = [...acc.values()].filter((d) => d.requests > 0 || d.tcpOpened > 0 || d.tcpBytes > 0);
  const from = first?.at ?? 0;
  const to = last?.at ?? 0;
  const outliers = outliersOver(rounds.map((r) => r.outliers ?? new Map()));
  return { from, to, seconds: Math.max(0.001, (to - from) / 1000), edges: mergeReporters(edges), outliers };
}

export class TrafficHistory {
  #rounds: Ring<ScrapeRound>;

  constructor(capacity = 120) {
    this.#rounds = new Ring(capacity);
  }

  record(round: ScrapeRound): void {
    this.#rounds.push(round);
  }

  get rounds(): number {
    return this.#rounds.size;
  }

  newest(): ScrapeRound | undefined {
    return this.#rounds.newest();
  }

  /**
   * The increase over the last `windowMs`: from the oldest round inside the window to the newest.
   * Undefined until two rounds exist.
   */
  window(windowMs: number): Interval | undefined {
    const n = this.#rounds.size;
    const newest = this.#rounds.at(n - 1);
    if (!newest || n < 2) return undefined;
    let oldest = n - 2;
    while (oldest > 0 && newest.at - (this.#rounds.at(oldest - 1) as ScrapeRound).at <= windowMs) oldest--;
    const rounds: ScrapeRound[] = [];
    for (let i = oldest; i < n; i++) rounds.push(this.#rounds.at(i) as ScrapeRound);
    return increaseOver(rounds);
  }

  /** Every consecutive pair of rounds, oldest first: the points of a sparkline. */
  intervals(): Interval[] {
    const out: Interval[] = [];
    for (let i = 1; i < this.#rounds.size; i++) out.push(increaseOver([this.#rounds.at(i - 1) as ScrapeRound, this.#rounds.at(i) as ScrapeRound]));
    return out;
  }
}
