// envoy.filters.http.fault config (HTTPFault) compiled once: fixed delay and abort (HTTP or gRPC
// status), each with its percentage, the header matchers that gate them, and max_active_faults.
import type { TypedAny } from '../../../xds/any.ts';
import { durationMs, type XdsDuration } from '../../../xds/duration.ts';
import { TypeUrl } from '../../../xds/type-urls.ts';
import { FilterConfigError, type FilterVerdict, type LocalReply } from '../../http/filter.ts';
import type { EnvoyFractionalPercent, EnvoyHeaderMatcher } from '../../http/route/envoy-types.ts';
import { compileFraction, type Fraction } from '../../http/route/fractional-percent.ts';
import { compileHeaderMatchers, type HeaderPredicate } from '../../http/route/header-matcher.ts';

interface EnvoyHttpFault {
  delay?: { fixed_delay?: XdsDuration; header_delay?: unknown; percentage?: EnvoyFractionalPercent };
  abort?: { http_status?: number; grpc_status?: number; header_abort?: unknown; percentage?: EnvoyFractionalPercent };
  headers?: EnvoyHeaderMatcher[];
  max_active_faults?: { value?: number };
  upstream_cluster?: string;
  downstream_nodes?: string[];
  response_rate_limit?: unknown;
}

export interface FaultConfig {
  readonly delay: { readonly ms: number; readonly fraction: Fraction } | null;
  readonly abort: { readonly httpStatus: number | null; readonly grpcStatus: number | null; readonly fraction: Fraction; readonly verdict: FilterVerdict } | null;
  readonly headers: readonly HeaderPredicate[];
  readonly maxActiveFaults: number;
}

const unsupported = ['upstream_cluster', 'downstream_nodes', 'response_rate_limit'] as const;

/**
 * Envoy's abortWithStatus: sendLocalReply(http_status or 200, "fault filter abort", grpc_status). The
 * gRPC status is used only when the request is gRPC; any other gets a plain 200 with the text
 * (Utility::prepareLocalReply), and neither its filters nor its access log see a grpc-status. Made once
 * per config.
 */
function abortVerdict(http: number | null, grpc: number | null): FilterVerdict {
  const reply: LocalReply = { status: http ?? 200, flag: 'FI', details: 'fault_filter_abort', body: 'fault filter abort' };
  if (grpc !== null) reply.grpcStatus = grpc;
  return Object.freeze({ action: 'respond', reply: Object.freeze(reply) });
}

/** Compiles an HTTPFault; throws FilterConfigError for what Outrigger does not run. */
export function compileFaultConfig(config: TypedAny): FaultConfig {
  if (config['@type'] !== TypeUrl.HttpFault) throw new FilterConfigError(`fault: expected ${TypeUrl.HttpFault}, got ${config['@type']}`);
  const c = config as unknown as EnvoyHttpFault;
  for (const f of unsupported) if (c[f] !== undefined) throw new FilterConfigError(`fault: ${f} is not supported`);
  let delay: FaultConfig['delay'] = null;
  if (c.delay) {
    if (c.delay.header_delay !== undefined) throw new FilterConfigError('fault: delay.header_delay is not supported');
    if (!c.delay.fixed_delay) throw new FilterConfigError('fault: delay.fixed_delay is required');
    // Whole milliseconds, as Envoy reads fixed_delay (PROTOBUF_GET_MS_REQUIRED): under 1 ms is no delay.
    delay = { ms: Math.floor(durationMs(c.delay.fixed_delay)), fraction: compileFraction(c.delay.percentage, 'delay.percentage') };
  }
  let abort: FaultConfig['abort'] = null;
  if (c.abort) {
    if (c.abort.header_abort !== undefined) throw new FilterConfigError('fault: abort.header_abort is not supported');
    const http = c.abort.http_status ?? null;
    const grpc = c.abort.grpc_status ?? null;
    if ((http === null) === (grpc === null)) throw new FilterConfigError('fault: abort needs exactly one of http_status, grpc_status');
    if (http !== null && (http < 200 || http >= 600)) throw new FilterConfigError(`fault: abort.http_status ${http} is not in 200..599`);
    abort = { httpStatus: http, grpcStatus: grpc, fraction: compileFraction(c.abort.percentage, 'abort.percentage'), verdict: abortVerdict(http, grpc) };
  }
  return {
    delay,
    abort,
    headers: compileHeaderMatchers(c.headers, 'headers'),
    maxActiveFaults: c.max_active_faults?.value ?? Number.POSITIVE_INFINITY,
  };
}
