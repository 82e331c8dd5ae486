// The size of an HTTP/1.1 head on the wire, for Istio's istio_request_bytes / istio_response_bytes
// (Envoy's downstream wire bytes: head and body). Sums of lengths over fields the connection manager
// already holds; nothing is serialized. Field values are latin1 strings (the codec's), so a string's
// length is its byte count.
import { http } from '../node-http.ts';

const { STATUS_CODES } = http;

/** CRLF after the start line, `: ` and CRLF per field, the blank line. */
const CRLF = 2;
const FIELD_OVERHEAD = 4;

/**
 * A request head as the client sent it: request line, each field as `name: value` (the codec keeps
 * names as sent and values without their surrounding whitespace: exact for the usual single space).
 */
export function requestHeadSize(method: string, target: string, rawHeaders: readonly string[]): number {
  // `METHOD SP target SP HTTP/1.x`
  let n = method.length + target.length + 10 + CRLF + CRLF;
  for (let i = 0; i < rawHeaders.length; i++) n += (rawHeaders[i] as string).length;
  return n + (rawHeaders.length / 2) * FIELD_OVERHEAD;
}

/**
 * A response head as the connection manager hands it to the codec: status line and fields. The fields
 * the codec adds itself (date, connection or keep-alive, transfer-encoding) are not counted.
 */
export function responseHeadSize(status: number, headers: Readonly<Record<string, string | readonly string[] | number | undefined>>): number {
  // `HTTP/1.1 SP status SP reason`
  let n = 13 + (STATUS_CODES[status] ?? 'Unknown').length + CRLF + CRLF;
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined) continue;
    if (typeof v === 'object') for (const one of v) n += k.length + one.length + FIELD_OVERHEAD;
    else n += k.length + (typeof v === 'number' ? digits(v) : v.length) + FIELD_OVERHEAD;
  }
  return n;
}

/** Decimal digits of a non-negative integer (a content-length), without making its string. */
function digits(v: number): number {
  let d = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) d++;
  return d;
}
