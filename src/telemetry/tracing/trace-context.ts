// Trace context propagation: W3C `traceparent`/`tracestate` and Zipkin B3 (multi-header `x-b3-*` and
// single-header `b3`), extracted from a request and injected into the request forwarded upstream.

export type PropagationFormat = 'w3c' | 'b3' | 'b3-single';

export interface SpanContext {
  /** 32 lower-case hex digits (64-bit B3 ids are left-padded with zeros). */
  readonly traceId: string;
  /** 16 lower-case hex digits. */
  readonly spanId: string;
  /** The caller's decision; undefined when the caller left it to us (B3 without a sampled flag). */
  readonly sampled: boolean | undefined;
  readonly tracestate?: string;
  readonly format: PropagationFormat;
}

type GetHeader = (name: string) => string | undefined;
type SetHeader = (name: string, value: string) => void;

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const ZERO32 = '0'.repeat(32);
const ZERO16 = '0'.repeat(16);

/**
 * Over `s[from, to)`: -1 if a character is not a lower-case hex digit, else 1 when one is not `0`, 0 when all are.
 * Char codes, no slices: what the patterns below decide for a canonical traceparent, without its parts.
 */
function lowerHex(s: string, from: number, to: number): number {
  let nonZero = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || (c > 0x39 && (c < 0x61 || c > 0x66))) return -1;
    if (c !== 0x30) nonZero = 1;
  }
  return nonZero;
}

/** W3C trace-context `traceparent`; undefined when malformed (the request then starts a new trace). */
export function parseTraceparent(value: string): { traceId: string; spanId: string; sampled: boolean } | undefined {
  // What every mesh hop sends: `00-<32 hex>-<16 hex>-<2 hex>`, lower case, nothing around it. Read by
  // char codes with two slices; anything else takes the general parse below, whose answer it equals.
  if (value.length === 55 && value.charCodeAt(0) === 0x30 && value.charCodeAt(1) === 0x30 && value.charCodeAt(2) === 0x2d && value.charCodeAt(35) === 0x2d && value.charCodeAt(52) === 0x2d) {
    if (lowerHex(value, 3, 35) === 1 && lowerHex(value, 36, 52) === 1 && lowerHex(value, 53, 55) >= 0) {
      const f = value.charCodeAt(54);
      return { traceId: value.slice(3, 35), spanId: value.slice(36, 52), sampled: ((f <= 0x39 ? f - 0x30 : f - 0x57) & 1) === 1 };
    }
  }
  const parts = value.trim().toLowerCase().split('-');
  if (parts.length < 4) return undefined;
  const [version = '', traceId = '', spanId = '', flags = ''] = parts;
  if (!/^[0-9a-f]{2}$/.test(version) || version === 'ff' || (version === '00' && parts.length !== 4)) return undefined;
  if (!HEX32.test(traceId) || traceId === ZERO32 || !HEX16.test(spanId) || spanId === ZERO16) return undefined;
  if (!/^[0-9a-f]{2}$/.test(flags)) return undefined;
  return { traceId, spanId, sampled: (Number.parseInt(flags, 16) & 1) === 1 };
}

export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

function b3TraceId(id: string): string | undefined {
  const v = id.toLowerCase();
  if (HEX16.test(v)) return v === ZERO16 ? undefined : ZERO16 + v;
  return HEX32.test(v) && v !== ZERO32 ? v : undefined;
}

function b3Sampled(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === '1' || v === 'true' || v === 'd') return true;
  if (v === '0' || v === 'false') return false;
  return undefined;
}

/** `b3: {traceId}-{spanId}[-{sampled}[-{parentSpanId}]]`, or a bare sampling decision (`0`, `1`, `d`). */
function parseB3Single(value: string): SpanContext | { sampled: boolean | undefined } | undefined {
  const parts = value.trim().split('-');
  if (parts.length === 1) return { sampled: b3Sampled(parts[0]) };
  const traceId = b3TraceId(parts[0] ?? '');
  const spanId = (parts[1] ?? '').toLowerCase();
  if (!traceId || !HEX16.test(spanId) || spanId === ZERO16) return undefined;
  return { traceId, spanId, sampled: b3Sampled(parts[2]), format: 'b3-single' };
}

export interface Extracted {
  context: SpanContext | undefined;
  /** A sampling decision sent without ids (`b3: 0`, `x-b3-sampled` alone). */
  sampled: boolean | undefined;
}

/** Reads the caller's trace context: `traceparent` first, then `b3`, then `x-b3-*`. */
export function extractTraceContext(get: GetHeader): Extracted {
  const tp = get('traceparent');
  if (tp !== undefined) {
    const p = parseTraceparent(tp);
    if (p) {
      const ts = get('tracestate');
      const context: SpanContext = ts ? { traceId: p.traceId, spanId: p.spanId, sampled: p.sampled, format: 'w3c', tracestate: ts } : { traceId: p.traceId, spanId: p.spanId, sampled: p.sampled, format: 'w3c' };
      return { context, sampled: p.sampled };
    }
  }
  const single = get('b3');
  if (single !== undefined) {
    const s = parseB3Single(single);
    if (s && 'traceId' in s) return { context: s, sampled: s.sampled };
    if (s) return { context: undefined, sampled: s.sampled };
  }
  const sampled = get('x-b3-flags') === '1' ? true : b3Sampled(get('x-b3-sampled'));
  const tid = get('x-b3-traceid');
  const sid = get('x-b3-spanid')?.toLowerCase();
  if (tid !== undefined && sid !== undefined) {
    const traceId = b3TraceId(tid);
    if (traceId && HEX16.test(sid) && sid !== ZERO16) return { context: { traceId, spanId: sid, sampled, format: 'b3' }, sampled };
  }
  return { context: undefined, sampled };
}

/**
 * Writes this hop's context for the upstream: W3C and B3 multi-header always (Istio's two defaults),
 * and single-header B3 when the caller used it. `parentSpanId` is the caller's span, if any.
 */
export function injectTraceContext(set: SetHeader, traceId: string, spanId: string, parentSpanId: string | undefined, sampled: boolean, incoming: SpanContext | undefined): void {
  set('traceparent', formatTraceparent(traceId, spanId, sampled));
  if (incoming?.tracestate) set('tracestate', incoming.tracestate);
  set('x-b3-traceid', traceId);
  set('x-b3-spanid', spanId);
  if (parentSpanId) set('x-b3-parentspanid', parentSpanId);
  set('x-b3-sampled', sampled ? '1' : '0');
  if (incoming?.format === 'b3-single') set('b3', `${traceId}-${spanId}-${sampled ? '1' : '0'}${parentSpanId ? `-${parentSpanId}` : ''}`);
}
