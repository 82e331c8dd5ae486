// A small Prometheus text-exposition writer (version 0.0.4): counters, gauges and histograms with
// labels. Enough for the control plane's own metrics without a client library.

type Labels = Record<string, string>;

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  series: Map<string, { labels: Labels; value: number; buckets?: number[]; sum?: number; count?: number }>;
  bounds?: readonly number[];
}

const labelKey = (l: Labels) => JSON.stringify(Object.entries(l).sort(([a], [b]) => a.localeCompare(b)));
const escapeValue = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

function fmt(labels: Labels, extra?: [string, string]): string {
  const all = Object.entries(labels);
  if (extra) all.push(extra);
  return all.length ? `{${all.map(([k, v]) => `${k}="${escapeValue(v)}"`).join(',')}}` : '';
}

export class MetricRegistry {
  #families = new Map<string, Family>();

  #family(name: string, help: string, type: Family['type'], bounds?: readonly number[]): Family {
    let f = this.#families.get(name);
    if (!f) {
      f = { name, help, type, series: new Map() };
      if (bounds) f.bounds = bounds;
      this.#families.set(name, f);
    }
    return f;
  }

  counter(name: string, help: string): { inc(labels?: Labels, by?: number): void } {
    const f = this.#family(name, help, 'counter');
    return {
      inc(labels = {}, by = 1) {
        const k = labelKey(labels);
        const s = f.series.get(k) ?? { labels, value: 0 };
        s.value += by;
        f.series.set(k, s);
      },
    };
  }

  gauge(name: string, help: string): { set(value: number, labels?: Labels): void; reset(): void } {
    const f = this.#family(name, help, 'gauge');
    return {
      set(value, labels = {}) {
        f.series.set(labelKey(labels), { labels, value });
      },
      reset() {
        f.series.clear();
      },
    };
  }

  histogram(name: string, help: string, bounds: readonly number[]): { observe(value: number, labels?: Labels): void } {
    const f = this.#family(name, help, 'histogram', bounds);
    return {
      observe(value, labels = {}) {
        const k = labelKey(labels);
        const s = f.series.get(k) ?? { labels, value: 0, buckets: bounds.map(() => 0), sum: 0, count: 0 };
        bounds.forEach((b, i) => {
          if (value <= b && s.buckets) s.buckets[i] = (s.buckets[i] ?? 0) + 1;
        });
        s.sum = (s.sum ?? 0) + value;
        s.count = (s.count ?? 0) + 1;
        f.series.set(k, s);
      },
    };
  }

  /** The exposition text, families in registration order. */
  render(): string {
    const lines: string[] = [];
    for (const f of this.#families.values()) {
      lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
      for (const s of f.series.values()) {
        if (f.type !== 'histogram') {
          lines.push(`${f.name}${fmt(s.labels)} ${s.value}`);
          continue;
        }
        (f.bounds ?? []).forEach((b, i) => {
          lines.push(`${f.name}_bucket${fmt(s.labels, ['le', String(b)])} ${s.buckets?.[i] ?? 0}`);
        });
        lines.push(`${f.name}_bucket${fmt(s.labels, ['le', '+Inf'])} ${s.count ?? 0}`);
        lines.push(`${f.name}_sum${fmt(s.labels)} ${s.sum ?? 0}`, `${f.name}_count${fmt(s.labels)} ${s.count ?? 0}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }
}
