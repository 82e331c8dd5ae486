// Spans as Zipkin v2 JSON (POST /api/v2/spans), the body Envoy's Zipkin tracer sends with Istio's
// config (`collector_endpoint_version: HTTP_JSON`, `shared_span_context: false`), field for field as
// its JsonV2Serializer (source/extensions/tracers/zipkin/span_buffer.cc) writes them.
import { isIPv4, isIPv6 } from 'node:net';
import type { SpanBatch } from './sender.ts';
import type { SpanRecord } from './span.ts';

export interface ZipkinEndpoint {
  serviceName: string;
  ipv4?: string;
  ipv6?: string;
  port?: number;
}

export interface ZipkinSpan {
  traceId: string;
  parentId?: string;
  id: string;
  name?: string;
  kind: 'CLIENT' | 'SERVER';
  /** Epoch microseconds, an integer. */
  timestamp: number;
  /** Microseconds, an integer. */
  duration: number;
  localEndpoint: ZipkinEndpoint;
  tags?: Record<string, string>;
}

/**
 * Envoy's local endpoint: the node's cluster (Istio's `app.namespace`, the batch's service) and its
 * local address, the pod IP with port 0; without a known IP, the service alone.
 */
export function zipkinLocalEndpoint(serviceName: string, ip: string | undefined): ZipkinEndpoint {
  if (ip && isIPv4(ip)) return { ipv4: ip, port: 0, serviceName };
  if (ip && isIPv6(ip)) return { ipv6: ip, port: 0, serviceName };
  return { serviceName };
}

// Envoy truncates to whole microseconds (duration_cast), and writes them as integers, never 1.5e+15.
const micros = (ms: number): number => Math.floor(ms * 1000);

function zipkinSpan(s: SpanRecord, local: ZipkinEndpoint): ZipkinSpan {
  const tags: Record<string, string> = {};
  let tagged = false;
  // Zipkin tags are strings only; Envoy's own are already (`error` is "true", as the tracer sets it).
  for (const k in s.attributes) {
    tags[k] = String(s.attributes[k]);
    tagged = true;
  }
  return {
    traceId: s.traceId,
    ...(s.parentSpanId ? { parentId: s.parentSpanId } : {}),
    id: s.spanId,
    ...(s.name ? { name: s.name } : {}),
    kind: s.kind,
    timestamp: micros(s.startMs),
    duration: micros(s.endMs) - micros(s.startMs),
    localEndpoint: local,
    ...(tagged ? { tags } : {}),
  };
}

/** The JSON array of one batch; `ip` is the proxy's (the pod's) address for every span's local endpoint. */
export function toZipkinSpans(batch: SpanBatch, ip: string | undefined): ZipkinSpan[] {
  const local = zipkinLocalEndpoint(batch.serviceName, ip);
  return batch.spans.map((s) => zipkinSpan(s, local));
}
