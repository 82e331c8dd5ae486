// A small metrics registry: counters, gauges and histograms whose series are bound once (label values
// resolved ahead), so recording is a field update. Renders Prometheus text and Envoy's /stats text.
// With a stats matcher, a series whose Envoy name it does not include is bound detached: counted by
// its holder, never kept or rendered (Envoy's null stats).
import type { StatsMatcher } from './stats-matcher.ts';

export type Labels = Readonly<Record<string, string>>;
/** Envoy's dotted stat name for a series (`cluster.NAME.upstream_rq_total`), for /stats. */
export type StatsName = (labels: Labels) => string;

export class Counter {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

export class Gauge {
  value = 0;
  set(v: number): void {
    this.value = v;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

export class Histogram {
  readonly bounds: readonly number[];
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Array<number>(bounds.length).fill(0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) {
      if (v <= (this.bounds[i] as number)) {
        this.counts[i] = (this.counts[i] as number) + 1;
        return;
      }
    }
  }
}

type Kind = 'counter' | 'gauge' | 'histogram';
type Series = Counter | Gauge | Histogram;

/**
 * A family whose values live elsewhere (one record per cluster, say) and are listed at render time, so
 * a series that was never used costs nothing until then: Prometheus clients call this a collector.
 */
export interface CollectedFamily {
  readonly name: string;
  readonly help: string;
  readonly kind: 'counter' | 'gauge';
  readonly statsName?: StatsName;
  /** Each series' labels and value, in the order they are rendered. */
  forEach(fn: (labels: Labels, value: number) => void): void;
}

export class Family<S extends Series> {
  readonly name: string;
  readonly help: string;
  readonly kind: Kind;
  readonly statsName: StatsName | undefined;
  #make: () => S;
  #series = new Map<string, { labels: Labels; series: S }>();
  readonly #matcher: StatsMatcher | undefined;

  constructor(name: string, help: string, kind: Kind, make: () => S, statsName?: StatsName, matcher?: StatsMatcher) {
    this.name = name;
    this.help = help;
    this.kind = kind;
    this.#make = make;
    this.statsName = statsName;
    // Only Envoy's stats (those with an Envoy name) are the matcher's to drop.
    this.#matcher = statsName ? matcher : undefined;
  }

  /** The series for these label values; call once and keep the result. */
  bind(labels: Labels = {}): S {
    if (this.#matcher && this.statsName && !this.#matcher.includes(this.statsName(labels))) return this.#make();
    const key = labelText(labels);
    let entry = this.#series.get(key);
    if (!entry) {
      entry = { labels, series: this.#make() };
      this.#series.set(key, entry);
    }
    return entry.series;
  }

  /** Drops the series for these labels (e.g. a removed cluster). */
  remove(labels: Labels): void {
    this.#series.delete(labelText(labels));
  }

  entries(): IterableIterator<{ labels: Labels; series: S }> {
    return this.#series.values();
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (extra) parts.push(`${extra[0]}="${extra[1]}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export class MetricsRegistry {
  #families: (Family<Series> | CollectedFamily)[] = [];
  /** Envoy's stats matcher (Istio's proxyStatsMatcher); undefined: every stat is kept. */
  readonly statsMatcher: StatsMatcher | undefined;

  constructor(opts: { statsMatcher?: StatsMatcher | undefined } = {}) {
    this.statsMatcher = opts.statsMatcher;
  }

  counter(name: string, help: string, statsName?: StatsName): Family<Counter> {
    return this.#add(new Family(name, help, 'counter', () => new Counter(), statsName, this.statsMatcher));
  }

  gauge(name: string, help: string, statsName?: StatsName): Family<Gauge> {
    return this.#add(new Family(name, help, 'gauge', () => new Gauge(), statsName, this.statsMatcher));
  }

  histogram(name: string, help: string, bounds: readonly number[], statsName?: StatsName): Family<Histogram> {
    return this.#add(new Family(name, help, 'histogram', () => new Histogram(bounds), statsName, this.statsMatcher));
  }

  /** Renders a family whose series another object keeps. */
  collect(f: CollectedFamily): void {
    this.#add(f);
  }

  #add<F extends Family<Series> | CollectedFamily>(f: F): F {
    if (this.#families.some((x) => x.name === f.name)) throw Object.assign(new Error(`metric ${f.name} registered twice`), { code: 'METRIC_DUPLICATE' });
    this.#families.push(f);
    return f;
  }

  /** Prometheus text exposition format 0.0.4. */
  renderPrometheus(): string {
    const out: string[] = [];
    // Collected families share one labels object per record (a cluster's, across its 34 families):
    // each is escaped and joined once a render.
    const texts = new Map<Labels, string>();
    for (const f of this.#families) {
      out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.kind}`);
      if (!(f instanceof Family)) {
        f.forEach((labels, value) => {
          let text = texts.get(labels);
          if (text === undefined) {
            text = labelText(labels);
            texts.set(labels, text);
          }
          out.push(`${f.name}${text} ${value}`);
        });
        continue;
      }
      for (const { labels, series } of f.entries()) {
        if (series instanceof Histogram) {
          let cum = 0;
          series.bounds.forEach((b, i) => {
            cum += series.counts[i] as number;
            out.push(`${f.name}_bucket${labelText(labels, ['le', String(b)])} ${cum}`);
          });
          out.push(`${f.name}_bucket${labelText(labels, ['le', '+Inf'])} ${series.count}`);
          out.push(`${f.name}_sum${labelText(labels)} ${series.sum}`, `${f.name}_count${labelText(labels)} ${series.count}`);
        } else out.push(`${f.name}${labelText(labels)} ${series.value}`);
      }
    }
    return `${out.join('\n')}\n`;
  }

  /** Envoy's `/stats` text: `name: value`, for families that declare a stats name. */
  renderStats(): string {
    const out: string[] = [];
    for (const f of this.#families) {
      const statsName = f.statsName;
      if (!statsName) continue;
      if (!(f instanceof Family)) {
        f.forEach((labels, value) => {
          out.push(`${statsName(labels)}: ${value}`);
        });
        continue;
      }
      for (const { labels, series } of f.entries()) {
        if (series instanceof Histogram) out.push(`${f.statsName(labels)}: P0(nan) count=${series.count} sum=${series.sum}`);
        else out.push(`${f.statsName(labels)}: ${series.value}`);
      }
    }
    return `${out.sort().join('\n')}\n`;
  }
}
