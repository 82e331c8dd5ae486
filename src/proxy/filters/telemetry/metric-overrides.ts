// Telemetry `metrics[].overrides` per metric, as Istio's stats filter applies them (istio/proxy
// `istio_stats.cc`, MetricOverrides): a dropped metric is not recorded; `tags_to_remove` leaves standard
// labels out; `dimensions` replace a standard label's value or add a label, each the text of a CEL
// expression over the stream's (or TCP connection's) attributes (`unknown` when it fails). The slow path:
// taken only by listeners whose Telemetry asks for overrides; series are still bound once per label set.
import { type CelExpression, celText, compileCel } from '../../../telemetry/cel/compile.ts';
import type { MetricOverrideConfig } from '../../../telemetry/filter-config.ts';
import type { IstioMetrics, TcpSeries } from '../../../telemetry/istio-metrics.ts';
import { Counter, type Histogram, type Labels } from '../../../telemetry/metrics/registry.ts';

/** The families, by the names Telemetry overrides use (Istio's stats names without `istio_`). */
const METRICS = [
  'requests_total',
  'request_duration_milliseconds',
  'request_bytes',
  'response_bytes',
  'tcp_sent_bytes_total',
  'tcp_received_bytes_total',
  'tcp_connections_opened_total',
  'tcp_connections_closed_total',
] as const;
type Metric = (typeof METRICS)[number];

/** Where a disabled TCP metric's increments go: a counter no family holds, so nothing exports it. */
const DISCARDED = new Counter();

interface Plan {
  readonly remove: ReadonlySet<string>;
  /** Label → index of its expression's value; standard labels are replaced in place, others appended (sorted). */
  readonly set: ReadonlyMap<string, number>;
}

interface Bound {
  requests?: Counter;
  duration?: Histogram;
  requestBytes?: Histogram;
  responseBytes?: Histogram;
}

export class MetricOverrides {
  readonly #plans = new Map<Metric, Plan | 'drop'>();
  readonly #expressions: CelExpression[] = [];
  /** Per standard label set (edge × outcome), per expression values: the series to record into. */
  #bound = new WeakMap<Labels, Map<string, Bound>>();
  /** The same for TCP connections (MetricEdge.tcpLabels). */
  #boundTcp = new WeakMap<Labels, Map<string, TcpSeries>>();

  /** Throws CelExpressionError for an expression that does not parse (the listener is NACKed). */
  constructor(configs: readonly MetricOverrideConfig[]) {
    const byText = new Map<string, number>();
    for (const c of configs) {
      const name = c.name as Metric;
      // gRPC message metrics are not recorded; custom metrics are not supported.
      if (!METRICS.includes(name)) continue;
      if (c.drop) {
        this.#plans.set(name, 'drop');
        continue;
      }
      const set = new Map<string, number>();
      for (const [label, source] of Object.entries(c.dimensions ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
        let i = byText.get(source);
        if (i === undefined) {
          i = this.#expressions.push(compileCel(source)) - 1;
          byText.set(source, i);
        }
        set.set(label, i);
      }
      if (set.size || c.tags_to_remove?.length) this.#plans.set(name, { remove: new Set(c.tags_to_remove ?? []), set });
    }
  }

  /** Whether any label needs the stream's attributes. */
  get needsAttributes(): boolean {
    return this.#expressions.length > 0;
  }

  /** Records one finished request whose standard labels are `base` (MetricEdge.outcomeLabels). */
  record(metrics: IstioMetrics, base: Labels, attributes: () => object, durationMs: number, requestBytes: number, responseBytes: number): void {
    const values = this.#values(attributes);
    const b = this.#cached(this.#bound, base, values, () => {
      const out: Bound = {};
      const requests = this.#bind('requests_total', metrics.requests, base, values);
      const duration = this.#bind('request_duration_milliseconds', metrics.duration, base, values);
      const requestBytesSeries = this.#bind('request_bytes', metrics.requestBytes, base, values);
      const responseBytesSeries = this.#bind('response_bytes', metrics.responseBytes, base, values);
      if (requests) out.requests = requests;
      if (duration) out.duration = duration;
      if (requestBytesSeries) out.requestBytes = requestBytesSeries;
      if (responseBytesSeries) out.responseBytes = responseBytesSeries;
      return out;
    });
    if (b.requests) b.requests.value++;
    // Whole milliseconds, truncated, as MetricEdge.record.
    b.duration?.observe(Math.trunc(durationMs));
    b.requestBytes?.observe(requestBytes);
    b.responseBytes?.observe(responseBytes);
  }

  /**
   * The series one TCP connection records into, its standard labels `base` (MetricEdge.tcpLabels); the
   * expressions are evaluated once per connection, as Istio's TCP stats are. A disabled metric's series
   * counts into nothing, so the byte path stays a plain increment.
   */
  bindTcp(metrics: IstioMetrics, base: Labels, attributes: () => object): TcpSeries {
    const values = this.#values(attributes);
    return this.#cached(this.#boundTcp, base, values, () => ({
      sent: this.#bind('tcp_sent_bytes_total', metrics.tcpSent, base, values) ?? DISCARDED,
      received: this.#bind('tcp_received_bytes_total', metrics.tcpReceived, base, values) ?? DISCARDED,
      opened: this.#bind('tcp_connections_opened_total', metrics.tcpOpened, base, values) ?? DISCARDED,
      closed: this.#bind('tcp_connections_closed_total', metrics.tcpClosed, base, values) ?? DISCARDED,
    }));
  }

  #values(attributes: () => object): string[] {
    if (!this.#expressions.length) return [];
    const a = attributes();
    return this.#expressions.map((e) => celText(e.evaluate(a)));
  }

  #cached<B>(cache: WeakMap<Labels, Map<string, B>>, base: Labels, values: readonly string[], make: () => B): B {
    let byValues = cache.get(base);
    if (!byValues) {
      byValues = new Map();
      cache.set(base, byValues);
    }
    const key = values.join('\u0000');
    let b = byValues.get(key);
    if (!b) {
      // Label values come from traffic: a flood of distinct ones must not grow memory forever.
      if (byValues.size >= 1000) byValues.clear();
      b = make();
      byValues.set(key, b);
    }
    return b;
  }

  #bind<S>(m: Metric, family: { bind(l: Labels): S }, base: Labels, values: readonly string[]): S | undefined {
    const plan = this.#plans.get(m);
    if (plan === 'drop') return undefined;
    return family.bind(plan ? this.#labels(plan, base, values) : base);
  }

  #labels(plan: Plan, base: Labels, values: readonly string[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(base)) {
      if (plan.remove.has(k)) continue;
      const i = plan.set.get(k);
      out[k] = i === undefined ? v : (values[i] ?? 'unknown');
    }
    for (const [k, i] of plan.set) if (!Object.hasOwn(base, k)) out[k] = values[i] ?? 'unknown';
    return out;
  }
}
