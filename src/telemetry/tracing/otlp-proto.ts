// OTLP's ExportTraceServiceRequest as protobuf bytes, written by hand: the body of OTLP/gRPC's Export
// call and of OTLP/HTTP with `application/x-protobuf`. A code generator or protobufjs would cost every
// sidecar a module tree for five messages. Field numbers are opentelemetry-proto's
// (collector/trace/v1/trace_service.proto, trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto).
import type { SpanBatch } from './sender.ts';
import { type AttributeValue, kindNumber, type SpanRecord, unixNanos } from './span.ts';

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;

/** STATUS_CODE_ERROR; an unset status (a span without error) is left out, as proto3 leaves out zero. */
const STATUS_ERROR = 2;

/** A growable buffer of protobuf fields. Nested messages are written in place, their length put in front afterwards. */
class ProtoWriter {
  #buf = Buffer.allocUnsafe(4096);
  #len = 0;

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + n));
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }

  /** A non-negative integer up to 2^53 as a varint (division, not shifts: those stop at 32 bits). */
  #varint(n: number): void {
    this.#reserve(10);
    while (n > 0x7f) {
      this.#buf[this.#len++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.#buf[this.#len++] = n;
  }

  #tag(field: number, wireType: number): void {
    this.#varint(field * 8 + wireType);
  }

  string(field: number, s: string): void {
    const n = Buffer.byteLength(s);
    this.#tag(field, LENGTH_DELIMITED);
    this.#varint(n);
    this.#reserve(n);
    this.#len += this.#buf.write(s, this.#len, 'utf8');
  }

  /** Lower-case hex (a trace or span id) as its bytes. */
  hexBytes(field: number, hex: string): void {
    const n = hex.length >>> 1;
    this.#tag(field, LENGTH_DELIMITED);
    this.#varint(n);
    this.#reserve(n);
    this.#len += this.#buf.write(hex, this.#len, 'hex');
  }

  uint(field: number, n: number): void {
    this.#tag(field, VARINT);
    this.#varint(n);
  }

  bool(field: number, b: boolean): void {
    this.uint(field, b ? 1 : 0);
  }

  /** int64: a negative number is its 64-bit two's complement, ten varint bytes. */
  int64(field: number, n: number): void {
    if (n >= 0) {
      this.uint(field, n);
      return;
    }
    this.#tag(field, VARINT);
    this.#reserve(10);
    let u = BigInt.asUintN(64, BigInt(n));
    while (u > 0x7fn) {
      this.#buf[this.#len++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.#buf[this.#len++] = Number(u);
  }

  fixed64(field: number, v: bigint): void {
    this.#tag(field, FIXED64);
    this.#reserve(8);
    this.#len = this.#buf.writeBigUInt64LE(v, this.#len);
  }

  double(field: number, v: number): void {
    this.#tag(field, FIXED64);
    this.#reserve(8);
    this.#len = this.#buf.writeDoubleLE(v, this.#len);
  }

  /** A length-delimited sub-message: one byte reserved for its length, the body moved up when it needs more. */
  message(field: number, body: () => void): void {
    this.#tag(field, LENGTH_DELIMITED);
    this.#reserve(1);
    const at = this.#len++;
    body();
    const size = this.#len - at - 1;
    let lengthBytes = 1;
    for (let n = size; n > 0x7f; n = Math.floor(n / 0x80)) lengthBytes++;
    if (lengthBytes > 1) {
      this.#reserve(lengthBytes - 1);
      this.#buf.copyWithin(at + lengthBytes, at + 1, this.#len);
    }
    let n = size;
    let i = at;
    while (n > 0x7f) {
      this.#buf[i++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.#buf[i] = n;
    this.#len = at + lengthBytes + size;
  }

  finish(): Buffer {
    return this.#buf.subarray(0, this.#len);
  }
}

/** KeyValue { key = 1; AnyValue value = 2 }, AnyValue { string 1, bool 2, int64 3, double 4 }. */
function keyValue(w: ProtoWriter, field: number, key: string, v: AttributeValue): void {
  w.message(field, () => {
    w.string(1, key);
    w.message(2, () => {
      if (typeof v === 'string') w.string(1, v);
      else if (typeof v === 'boolean') w.bool(2, v);
      else if (Number.isSafeInteger(v)) w.int64(3, v);
      else w.double(4, v);
    });
  });
}

/** Span fields: trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6, start 7, end 8, attributes 9, status 15. */
function span(w: ProtoWriter, s: SpanRecord): void {
  w.message(2, () => {
    w.hexBytes(1, s.traceId);
    w.hexBytes(2, s.spanId);
    if (s.parentSpanId) w.hexBytes(4, s.parentSpanId);
    w.string(5, s.name);
    w.uint(6, kindNumber[s.kind]);
    w.fixed64(7, unixNanos(s.startMs));
    w.fixed64(8, unixNanos(s.endMs));
    for (const k in s.attributes) keyValue(w, 9, k, s.attributes[k] as AttributeValue);
    // Status { code = 3 }.
    if (s.error) w.message(15, () => w.uint(3, STATUS_ERROR));
  });
}

/**
 * ExportTraceServiceRequest { resource_spans = 1 } with one ResourceSpans { resource = 1, scope_spans = 2 }:
 * the batch's service as the resource's `service.name`, its spans in one `outrigger` scope (as OTLP/JSON's).
 */
export function encodeExportTraceRequest(batch: SpanBatch): Buffer {
  const w = new ProtoWriter();
  w.message(1, () => {
    w.message(1, () => {
      keyValue(w, 1, 'service.name', batch.serviceName);
      for (const k in batch.resource) keyValue(w, 1, k, batch.resource[k] as AttributeValue);
    });
    w.message(2, () => {
      // InstrumentationScope { name = 1 }.
      w.message(1, () => w.string(1, 'outrigger'));
      for (const s of batch.spans) span(w, s);
    });
  });
  return w.finish();
}
