// Traces for the dashboard: a summary per trace for the list, and spans placed on one time axis for
// the waterfall (offset and duration in ms from the trace's first span, depth from parent links).
import type { CollectedSpan, TraceCollector, TraceSummary } from '../telemetry/tracing/collector.ts';

export interface TraceListItem {
  traceId: string;
  root: string;
  services: string[];
  spans: number;
  /** Epoch ms of the first span. */
  start: number;
  durationMs: number;
  error: boolean;
}

export interface WaterfallSpan {
  spanId: string;
  parentSpanId: string | null;
  service: string;
  name: string;
  kind: 'server' | 'client' | 'internal';
  offsetMs: number;
  durationMs: number;
  depth: number;
  error: boolean;
  attributes: Record<string, string>;
}

export interface TraceDetail {
  traceId: string;
  start: number;
  durationMs: number;
  spans: WaterfallSpan[];
}

// Nanosecond strings from OTLP, to ms without losing precision in a double first; junk reads as 0.
const ms = (nanos: string): number => (/^\d{1,30}$/.test(nanos) ? Number(BigInt(nanos) / 1000n) / 1000 : 0);
const round = (v: number): number => Math.round(v * 1000) / 1000;
const kindOf = (k: number): WaterfallSpan['kind'] => (k === 2 ? 'server' : k === 3 ? 'client' : 'internal');

function bounds(spans: readonly CollectedSpan[]): { start: number; end: number } {
  let start = Number.POSITIVE_INFINITY;
  let end = 0;
  for (const s of spans) {
    start = Math.min(start, ms(s.startTimeUnixNano));
    end = Math.max(end, ms(s.endTimeUnixNano));
  }
  return { start, end: Math.max(start, end) };
}

function summarize(t: TraceSummary): TraceListItem {
  const { start, end } = bounds(t.spans);
  const ids = new Set(t.spans.map((s) => s.spanId));
  const root = t.spans.find((s) => !s.parentSpanId || !ids.has(s.parentSpanId)) ?? t.spans[0];
  return {
    traceId: t.traceId,
    root: root ? `${root.serviceName}: ${root.name}` : '',
    services: [...new Set(t.spans.map((s) => s.serviceName))].sort(),
    spans: t.spans.length,
    start,
    durationMs: round(end - start),
    error: t.spans.some((s) => s.status.code === 2),
  };
}

export function traceList(collector: TraceCollector | undefined, service: string | undefined, limit: number): TraceListItem[] {
  if (!collector) return [];
  return collector.traces({ ...(service ? { service } : {}), limit }).map(summarize);
}

export function traceDetail(collector: TraceCollector | undefined, traceId: string): TraceDetail | undefined {
  const t = collector?.trace(traceId);
  if (!t) return undefined;
  const { start, end } = bounds(t.spans);
  const byId = new Map(t.spans.map((s) => [s.spanId, s]));
  const depth = (s: CollectedSpan): number => {
    let d = 0;
    for (let p = s.parentSpanId ? byId.get(s.parentSpanId) : undefined; p && d < 64; p = p.parentSpanId ? byId.get(p.parentSpanId) : undefined) d++;
    return d;
  };
  // Depth-first from the roots, children by start time, so the waterfall reads as a call tree.
  const children = new Map<string, CollectedSpan[]>();
  const roots: CollectedSpan[] = [];
  for (const s of t.spans) {
    if (s.parentSpanId && byId.has(s.parentSpanId)) {
      const list = children.get(s.parentSpanId) ?? [];
      list.push(s);
      children.set(s.parentSpanId, list);
    } else roots.push(s);
  }
  const byStart = (a: CollectedSpan, b: CollectedSpan) => ms(a.startTimeUnixNano) - ms(b.startTimeUnixNano);
  const ordered: CollectedSpan[] = [];
  const visit = (s: CollectedSpan) => {
    if (ordered.length > t.spans.length) return;
    ordered.push(s);
    for (const c of (children.get(s.spanId) ?? []).sort(byStart)) visit(c);
  };
  for (const r of roots.sort(byStart)) visit(r);
  const spans = ordered.map((s) => {
    const attributes: Record<string, string> = {};
    for (const a of s.attributes) attributes[a.key] = String(a.value.stringValue ?? a.value.intValue ?? a.value.doubleValue ?? a.value.boolValue ?? '');
    return {
      spanId: s.spanId,
      parentSpanId: s.parentSpanId ?? null,
      service: s.serviceName,
      name: s.name,
      kind: kindOf(s.kind),
      offsetMs: round(ms(s.startTimeUnixNano) - start),
      durationMs: round(ms(s.endTimeUnixNano) - ms(s.startTimeUnixNano)),
      depth: depth(s),
      error: s.status.code === 2,
      attributes,
    };
  });
  return { traceId: t.traceId, start, durationMs: round(end - start), spans };
}
