// How a batch of spans leaves the proxy: one encoding and transport per tracing provider kind (OTLP/HTTP
// JSON to the built-in collector, OTLP/gRPC, OTLP/HTTP protobuf, Zipkin v2 JSON). The SpanExporter
// queues and batches; a sender only encodes and sends.
import type { AttributeValue, SpanRecord } from './span.ts';

/** The spans of one service (the proxy's workload), as one export request carries them. */
export interface SpanBatch {
  serviceName: string;
  resource: Readonly<Record<string, AttributeValue>>;
  spans: readonly SpanRecord[];
}

export interface SpanSender {
  /** Resolves whether the collector took the batch; false on any failure or timeout, never rejects. */
  send(batch: SpanBatch): Promise<boolean>;
  /** Releases what the sender holds open (a gRPC session); later sends may open it again. */
  close(): void;
}
