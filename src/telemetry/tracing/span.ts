// A finished span as the proxy records it, and its OTLP/JSON encoding (the body of POST /v1/traces).

export type SpanKind = 'SERVER' | 'CLIENT';
export type AttributeValue = string | number | boolean;

export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: SpanKind;
  /** Epoch milliseconds (fractions allowed). */
  startMs: number;
  endMs: number;
  attributes: Record<string, AttributeValue>;
  error: boolean;
}

/** OTLP's SpanKind numbers. */
export const kindNumber: Readonly<Record<SpanKind, number>> = { SERVER: 2, CLIENT: 3 };

export interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string; doubleValue?: number; boolValue?: boolean };
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpAttribute[];
  status: { code: number };
}

export interface OtlpTracesRequest {
  resourceSpans: {
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[];
  }[];
}

function attribute(key: string, v: AttributeValue): OtlpAttribute {
  if (typeof v === 'string') return { key, value: { stringValue: v } };
  if (typeof v === 'boolean') return { key, value: { boolValue: v } };
  return Number.isInteger(v) ? { key, value: { intValue: String(v) } } : { key, value: { doubleValue: v } };
}

/** Epoch milliseconds → epoch nanoseconds, to the microsecond the clock gives. */
export const unixNanos = (ms: number): bigint => BigInt(Math.round(ms * 1000)) * 1000n;

const nanos = (ms: number): string => unixNanos(ms).toString();

export function toOtlpSpan(s: SpanRecord): OtlpSpan {
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
    name: s.name,
    kind: kindNumber[s.kind],
    startTimeUnixNano: nanos(s.startMs),
    endTimeUnixNano: nanos(s.endMs),
    attributes: Object.entries(s.attributes).map(([k, v]) => attribute(k, v)),
    // OTLP status: 0 unset, 2 error. Istio marks 5xx and resets as errors.
    status: { code: s.error ? 2 : 0 },
  };
}

/** One export request for one service (the proxy's workload). */
export function toOtlpRequest(serviceName: string, resource: Record<string, AttributeValue>, spans: readonly SpanRecord[]): OtlpTracesRequest {
  return {
    resourceSpans: [
      {
        resource: { attributes: [attribute('service.name', serviceName), ...Object.entries(resource).map(([k, v]) => attribute(k, v))] },
        scopeSpans: [{ scope: { name: 'outrigger' }, spans: spans.map(toOtlpSpan) }],
      },
    ],
  };
}
