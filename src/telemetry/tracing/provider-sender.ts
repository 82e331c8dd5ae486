// The SpanSender for a tracing provider, as Envoy exports for Istio's provider kinds: OTLP/gRPC
// (`opentelemetry` without `http:`), OTLP/HTTP protobuf (`opentelemetry` with `http:`), Zipkin v2 JSON
// (`zipkin`), each to `service:port` with the provider's headers and timeout.
import type { TracingHeaderConfig, TracingProviderConfig } from '../filter-config.ts';
import { type PostOptions, postBody } from './http-post.ts';
import { type OtlpGrpcOptions, OtlpGrpcSender } from './otlp-grpc.ts';
import { encodeExportTraceRequest } from './otlp-proto.ts';
import type { SpanSender } from './sender.ts';
import { toZipkinSpans } from './zipkin-span.ts';

/**
 * Timeouts when the provider sets none: Zipkin's is Istio's (zipkinConfig) and Envoy's own
 * (`tracing.zipkin.request_timeout`), OTLP/HTTP's the Istio API's documented 3 s; Envoy sets no
 * deadline on an OTLP/gRPC call without `grpc.timeout`, and the exporter's 10 s bounds it here.
 */
const DEFAULT_TIMEOUT_MS = { grpc: 10_000, http: 3_000, zipkin: 5_000 } as const;

export interface ProviderSenderDeps {
  /** The proxy's pod environment: `env_name` headers, and the pod IP (INSTANCE_IP) Zipkin spans carry. */
  env: Readonly<Record<string, string | undefined>>;
  /** For OTLP/gRPC: how its HTTP/2 session is opened (node:http2's connect by default). */
  connect?: OtlpGrpcOptions['connect'];
  /** The collector's name lookup and the exports' deadlines (the shared lookup and Node's timers by default). */
  lookup?: PostOptions['lookup'];
  timers?: PostOptions['timers'];
  /** Where a dropped header is told (a process warning by default). */
  warn?: (message: string) => void;
}

/** What node:http and node:http2 refuse in a header value (besides CR, LF and NUL, other controls and code points past U+00FF). */
const badHeaderValue = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * Header name → value, an `env_name` header's read once (empty when unset, as Istio's getHeaderValue).
 * A variable's value Node would refuse in a header fails every export with it; the header is left out
 * instead, told once, here (a literal value is checked with the config).
 */
export function resolveHeaders(headers: readonly TracingHeaderConfig[] | undefined, env: ProviderSenderDeps['env'], warn: (message: string) => void = (m) => process.emitWarning(m)): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of headers ?? []) {
    const value = 'value' in h ? h.value : (env[h.env_name] ?? '');
    if ('env_name' in h && badHeaderValue.test(value)) warn(`tracing header ${h.name}: the value of ${h.env_name} is not a valid header value (a control character, or a character past U+00FF); the header is not sent`);
    else out[h.name.toLowerCase()] = value;
  }
  return out;
}

const hostPort = (p: TracingProviderConfig) => `${p.service.includes(':') ? `[${p.service}]` : p.service}:${p.port}`;

export function providerSender(p: TracingProviderConfig, deps: ProviderSenderDeps): SpanSender {
  const headers = resolveHeaders(p.headers, deps.env, deps.warn);
  const post: PostOptions = { ...(deps.lookup ? { lookup: deps.lookup } : {}), ...(deps.timers ? { timers: deps.timers } : {}) };
  if (p.kind === 'zipkin') {
    const url = `http://${hostPort(p)}${p.path ?? '/api/v2/spans'}`;
    const timeoutMs = p.timeout_ms ?? DEFAULT_TIMEOUT_MS.zipkin;
    const ip = deps.env['INSTANCE_IP'];
    const zipkinHeaders = { 'content-type': 'application/json', ...headers };
    return {
      send: (batch) => postBody(url, JSON.stringify(toZipkinSpans(batch, ip)), zipkinHeaders, timeoutMs, post),
      close() {},
    };
  }
  if (p.protocol === 'http') {
    const url = `http://${hostPort(p)}${p.path ?? '/v1/traces'}`;
    const timeoutMs = p.timeout_ms ?? DEFAULT_TIMEOUT_MS.http;
    // The provider's headers last, as Envoy sets them over its own.
    const otlpHeaders = { 'content-type': 'application/x-protobuf', ...headers };
    return {
      send: (batch) => postBody(url, encodeExportTraceRequest(batch), otlpHeaders, timeoutMs, post),
      close() {},
    };
  }
  return new OtlpGrpcSender({
    host: p.service,
    port: p.port,
    headers,
    timeoutMs: p.timeout_ms ?? DEFAULT_TIMEOUT_MS.grpc,
    ...(deps.connect ? { connect: deps.connect } : {}),
    ...post,
  });
}
