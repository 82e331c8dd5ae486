// Every response the proxy makes itself comes from here: Envoy's status, response flag, details and
// short body for each failure, gRPC-shaped (trailers-only) when the request was gRPC.
import type { LocalReply } from './http/filter.ts';
import { httpToGrpcStatus } from './http/grpc-status.ts';
import { type HeaderMap, headerMapOf, type StreamInfo } from './http/stream.ts';

export const LocalReplies = {
  routeNotFound: { status: 404, flag: 'NR', details: 'route_not_found', body: '' },
  clusterNotFound: { status: 503, flag: 'NC', details: 'cluster_not_found', body: '' },
  noHealthyUpstream: { status: 503, flag: 'UH', details: 'no_healthy_upstream', body: 'no healthy upstream' },
  connectFailure: { status: 503, flag: 'UF', details: 'upstream_reset_before_response_started{connection_failure}', body: 'upstream connect error or disconnect/reset before headers. reset reason: connection failure' },
  upstreamReset: { status: 503, flag: 'UC', details: 'upstream_reset_before_response_started{connection_termination}', body: 'upstream connect error or disconnect/reset before headers. reset reason: connection termination' },
  upstreamRemoteReset: { status: 503, flag: 'UR', details: 'upstream_reset_before_response_started{remote_reset}', body: 'upstream connect error or disconnect/reset before headers. reset reason: remote reset' },
  upstreamRemoteRefused: { status: 503, flag: 'UR', details: 'upstream_reset_before_response_started{remote_refused_stream_reset}', body: 'upstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset' },
  upstreamConnectError: { status: 503, flag: 'UR', details: 'upstream_reset_before_response_started{remote_error_with_CONNECT_request}', body: 'upstream connect error or disconnect/reset before headers. reset reason: remote error with CONNECT request' },
  upstreamProtocolError: { status: 502, flag: 'UPE', details: 'upstream_reset_before_response_started{protocol_error}', body: 'upstream connect error or disconnect/reset before headers. reset reason: protocol error' },
  // The same once the upstream's head has gone downstream (Envoy's onUpstreamReset with the response
  // started): no reply, the stream is reset; the response code stays the upstream's.
  upstreamResetAfterHead: { status: 503, flag: 'UC', details: 'upstream_reset_after_response_started{connection_termination}', body: '' },
  upstreamRemoteResetAfterHead: { status: 503, flag: 'UR', details: 'upstream_reset_after_response_started{remote_reset}', body: '' },
  upstreamRemoteRefusedAfterHead: { status: 503, flag: 'UR', details: 'upstream_reset_after_response_started{remote_refused_stream_reset}', body: '' },
  upstreamConnectErrorAfterHead: { status: 503, flag: 'UR', details: 'upstream_reset_after_response_started{remote_error_with_CONNECT_request}', body: '' },
  upstreamProtocolErrorAfterHead: { status: 502, flag: 'UPE', details: 'upstream_reset_after_response_started{protocol_error}', body: '' },
  upstreamTimeout: { status: 504, flag: 'UT', details: 'response_timeout', body: 'upstream request timeout' },
  // The last try ended by its per-try timeout (Envoy's onPerTryTimeout), retried or not; the route's own is response_timeout.
  upstreamPerTryTimeout: { status: 504, flag: 'UT', details: 'upstream_per_try_timeout', body: 'upstream request timeout' },
  // Envoy marks a circuit breaker's refusal `x-envoy-overloaded: true` (unless suppress_envoy_headers), and
  // a proxy downstream does not retry it.
  overflow: { status: 503, flag: 'UO', details: 'upstream_reset_before_response_started{overflow}', body: 'upstream connect error or disconnect/reset before headers. reset reason: overflow', headers: { 'x-envoy-overloaded': 'true' } },
  protocolError: { status: 400, flag: 'DPE', details: 'http1.codec_error', body: 'Bad Request' },
  headersTooLarge: { status: 431, flag: 'DPE', details: 'http1.headers_too_large', body: 'Request Header Fields Too Large' },
  httpsInPlaintext: { status: 403, flag: 'DPE', details: 'http1.https_url_on_plaintext_connection', body: 'Forbidden' },
  directResponse: { status: 200, flag: '', details: 'direct_response', body: '' },
} as const satisfies Record<string, Required<Pick<LocalReply, 'status' | 'flag' | 'details' | 'body'>> & Pick<LocalReply, 'headers'>>;

/** A protocol error with a precise details string (`http.invalid_authority`, `http2.violation.of.messaging.rule`). */
export function badRequest(details: string, status = 400): LocalReply {
  return { status, flag: 'DPE', details, body: status === 431 ? 'Request Header Fields Too Large' : 'Bad Request' };
}

export interface ReplyTarget {
  readonly headersSent: boolean;
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  end(body?: string | Uint8Array): unknown;
  /** Head and end at once: on HTTP/2 one HEADERS frame with END_STREAM (gRPC's trailers-only answer). */
  endHead?(status: number, headers: Record<string, string | number>): unknown;
}

/**
 * A head with nothing after it. Node's HTTP/2 compat response sends a head that writeHead() forced out
 * without END_STREAM, then an empty DATA frame to end the stream; a head set and then end()ed leaves
 * as one HEADERS frame with END_STREAM, which is what a gRPC client reads as trailers-only (without
 * it grpc-js reports INTERNAL, "Call ended without gRPC status", whatever grpc-status said).
 */
export function endWithHead(res: ReplyTarget, status: number, headers: Record<string, string | number>): void {
  if (res.endHead) {
    res.endHead(status, headers);
    return;
  }
  const h2 = res as unknown as { stream?: unknown; statusCode: number; setHeader?(name: string, value: string | number): unknown };
  if (h2.stream !== undefined && typeof h2.setHeader === 'function') {
    h2.statusCode = status;
    for (const [k, v] of Object.entries(headers)) h2.setHeader(k, v);
    res.end();
    return;
  }
  res.writeHead(status, headers);
  res.end();
}

/** gRPC's percent-encoding of grpc-message (Envoy's PercentEncoding): only `%` and bytes outside printable ASCII. */
function grpcPercentEncode(text: string | Uint8Array): string {
  if (typeof text === 'string' && !/[^\x20-\x24\x26-\x7e]/.test(text)) return text;
  let out = '';
  for (const b of typeof text === 'string' ? Buffer.from(text, 'utf8') : text) out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** Records a reply's flag and details in StreamInfo (the access log's, whether or not the reply is sent). */
export function recordReply(info: StreamInfo, reply: LocalReply): void {
  if (reply.flag) info.responseFlags.add(reply.flag);
  if (reply.details) info.responseCodeDetails = reply.details;
}

/**
 * Envoy's Utility::prepareLocalReply: what a local reply's head gets before the filters see it (they
 * and the access log read it: `%RESP(CONTENT-TYPE)%`, a gRPC status). For a gRPC request a 200 with
 * `application/grpc`, the reply's own gRPC status or else its HTTP status mapped (unless a header
 * already names one) and its text as grpc-message, nothing else: the reply's grpc_status is never a
 * plain request's. For any other, a body's length and `text/plain` (unless a header names a type); no
 * body, length 0 (what the codec would send) and no type. Returns the :status to send.
 */
export function prepareLocalReply(headers: HeaderMap, reply: LocalReply, grpc: boolean): number {
  const body = reply.body ?? '';
  if (grpc) {
    headers.set('content-type', 'application/grpc');
    if (!headers.has('grpc-status')) headers.set('grpc-status', String(reply.grpcStatus ?? httpToGrpcStatus(reply.status)));
    if (!headers.has('grpc-message')) headers.set('grpc-message', grpcPercentEncode(body.length > 0 ? body : reply.details || ''));
    headers.delete('content-length');
    return 200;
  }
  if (body.length > 0) {
    headers.set('content-length', String(Buffer.byteLength(body)));
    if (!headers.has('content-type')) headers.set('content-type', 'text/plain');
  } else {
    headers.set('content-length', '0');
    headers.delete('content-type');
  }
  return reply.status;
}

/** Records the flag and details in StreamInfo and writes the reply (no-op when a head already left). */
export function sendLocalReply(res: ReplyTarget, reply: LocalReply, info: StreamInfo, grpc: boolean): void {
  recordReply(info, reply);
  if (res.headersSent) return;
  const headers = headerMapOf(reply.headers ?? {});
  writeLocalReply(res, prepareLocalReply(headers, reply, grpc), headers, reply, info, grpc);
}

/** Writes a prepared local reply (prepareLocalReply), its head as the filters left it. */
export function writeLocalReply(res: ReplyTarget, status: number, head: HeaderMap, reply: LocalReply, info: StreamInfo, grpc: boolean): void {
  if (res.headersSent) return;
  const headers: Record<string, string> = {};
  for (const [k, v] of head) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  // gRPC's trailers-only answer: the head is the whole response.
  if (grpc) {
    endWithHead(res, status, headers);
    return;
  }
  // With every flag of the stream (`UF,URX`, `DI,FI`), sorted by name; the access log and the metrics
  // keep the order they were set in (`URX,UF`).
  if (reply.flag) headers['x-envoy-response-flags'] = info.responseFlags.size > 1 ? [...info.responseFlags].sort().join(',') : reply.flag;
  res.writeHead(status, headers);
  res.end(reply.body ?? '');
}
