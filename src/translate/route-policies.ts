// The per-route policies of an HTTPRoute: retries (with Istio's defaults), faults, CORS, mirrors
// and header operations, each as the Envoy field or typed_per_filter_config entry it becomes.
import type { CorsPolicy, Headers, HeaderOperations, HTTPFaultInjection, HTTPRetry } from '../config/types/networking.ts';
import type { MeshSettings } from '../model/mesh-config.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { fractionalPercent, istioDuration, stringMatcher } from './xds-values.ts';

/** Istio's retry policy when a route says nothing (1.24+: 503 no longer retried by default). */
export const defaultRetryOn = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';

/**
 * HTTPRetry → Envoy RetryPolicy, as Istio's ConvertPolicy: the route's `retries`, else
 * meshConfig.defaultHttpRetryPolicy (read whole), else Istio's default policy (2 retries). A given
 * policy retries only with `attempts` above 0: without attempts (or 0) it disables retries (undefined). A
 * route that hashes (consistent hash) gets no previous_hosts predicate, as Istio's
 * DefaultConsistentHashPolicy: a retry stays on the host its key maps to.
 */
export function translateRetries(retries: HTTPRetry | undefined, mesh: MeshSettings, consistentHash = false): Record<string, unknown> | undefined {
  const base: HTTPRetry | undefined = retries ?? mesh.defaultHttpRetryPolicy;
  const attempts = base ? (base.attempts ?? 0) : 2;
  if (attempts <= 0) return undefined;
  const words = (base?.retryOn || defaultRetryOn).split(',').map((w) => w.trim()).filter(Boolean);
  const codes = words.filter((w) => /^\d{3}$/.test(w)).map(Number);
  const on = words.filter((w) => !/^\d{3}$/.test(w));
  if (codes.length > 0 && !on.includes('retriable-status-codes')) on.push('retriable-status-codes');
  const out: Record<string, unknown> = {
    retry_on: on.join(','),
    num_retries: { value: attempts },
    // Istio's ConvertPolicy: retryIgnorePreviousHosts decides when set; unset, a consistent-hash route
    // keeps its host on retry and any other tries another.
    ...((base?.retryIgnorePreviousHosts ?? !consistentHash) ? { retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts' }] } : {}),
    host_selection_retry_max_attempts: 5,
  };
  const backoff = istioDuration(base?.backoff);
  if (backoff) out['retry_back_off'] = { base_interval: backoff };
  const perTry = istioDuration(base?.perTryTimeout);
  if (perTry) out['per_try_timeout'] = perTry;
  if (codes.length > 0) out['retriable_status_codes'] = codes;
  // Istio's fixed update_frequency: the first two tries use the normal priority load, later ones
  // leave out the priorities (localities, under failover) already tried.
  if (base?.retryRemoteLocalities) {
    out['retry_priority'] = { name: 'envoy.retry_priorities.previous_priorities', typed_config: { '@type': TypeUrl.PreviousPrioritiesConfig, update_frequency: 2 } };
  }
  return out;
}

/**
 * HTTPFaultInjection → the `envoy.filters.http.fault` per-route HTTPFault, as Istio's TranslateFault:
 * a fault without `percentage` (or the deprecated integer `percent`) injects into no request
 * ("If not specified, no request will be aborted/delayed"); an exponential delay or an `http2Error`
 * abort is not supported and dropped; undefined when nothing is left.
 */
export function translateFault(fault: HTTPFaultInjection): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = { '@type': TypeUrl.HttpFault };
  const fixed = istioDuration(fault.delay?.fixedDelay);
  if (fault.delay && fixed) {
    const pct = fault.delay.percentage?.value;
    // Istio's translateIntegerToFractionalPercent: the integer percent over HUNDRED, 0 when unset.
    const percentage = pct !== undefined ? fractionalPercent(pct) : { numerator: fault.delay.percent ?? 0, denominator: 'HUNDRED' };
    out['delay'] = { percentage, fixed_delay: fixed };
  }
  const a = fault.abort;
  if (a && (a.grpcStatus !== undefined || a.httpStatus !== undefined)) {
    const abort: Record<string, unknown> = {};
    // Without a percentage Envoy's FaultAbort injects into 0 % of requests.
    if (a.percentage) abort['percentage'] = fractionalPercent(a.percentage.value);
    if (a.grpcStatus !== undefined) abort['grpc_status'] = grpcCode(a.grpcStatus);
    else abort['http_status'] = a.httpStatus;
    out['abort'] = abort;
  }
  return out['delay'] || out['abort'] ? out : undefined;
}

/** Istio's SupportedGRPCStatus, by code (validation admits these names only). */
const grpcCodes = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

function grpcCode(status: string): number {
  const i = grpcCodes.indexOf(status);
  return i >= 0 ? i : 2;
}

/**
 * CorsPolicy → the `envoy.filters.http.cors` per-route CorsPolicy, as Istio's TranslateCORSPolicy:
 * `allowOrigins` when given, else the deprecated `allowOrigin` as exact matchers (an exact `*` allows
 * every origin: Envoy's filter also tries each matcher on `*`); unmatched preflights forwarded unless
 * `IGNORE`.
 */
export function translateCors(cors: CorsPolicy): Record<string, unknown> {
  const origins = cors.allowOrigins?.length ? cors.allowOrigins.map((m) => stringMatcher(m)) : (cors.allowOrigin ?? []).map((o) => ({ exact: o }));
  const out: Record<string, unknown> = {
    '@type': TypeUrl.CorsPolicy,
    allow_origin_string_match: origins,
    filter_enabled: { default_value: { numerator: 100 } },
  };
  if (cors.allowMethods?.length) out['allow_methods'] = cors.allowMethods.join(',');
  if (cors.allowHeaders?.length) out['allow_headers'] = cors.allowHeaders.join(',');
  if (cors.exposeHeaders?.length) out['expose_headers'] = cors.exposeHeaders.join(',');
  const maxAge = istioDuration(cors.maxAge);
  if (maxAge) out['max_age'] = String(maxAge.seconds);
  if (cors.allowCredentials !== undefined) out['allow_credentials'] = { value: cors.allowCredentials };
  out['forward_not_matching_preflights'] = { value: cors.unmatchedPreflights !== 'IGNORE' };
  return out;
}

/** A mirror policy; `percent` is Istio's 0–100 double (100 when unset). */
export function translateMirror(cluster: string, percent: number | undefined): Record<string, unknown> {
  return { cluster, runtime_fraction: { default_value: fractionalPercent(percent ?? 100) } };
}

/** Header operations as Istio's TranslateHeadersOperations makes them. */
export interface TranslatedHeaders {
  /** The header lists of a Route or weighted cluster. */
  fields: Record<string, unknown>;
  /**
   * A request `host` / `:authority` (any case) to set or add, which is no header operation but the
   * upstream authority: the route's or weighted cluster's host_rewrite_literal (`set` wins over `add`).
   */
  authority: string | undefined;
}

/** Header operations as the fields of a Route or weighted cluster, and the authority they rewrite to. */
export function translateHeaders(headers: Headers | undefined): TranslatedHeaders {
  const fields: Record<string, unknown> = {};
  const authority = addOps(fields, 'request', headers?.request);
  addOps(fields, 'response', headers?.response);
  return { fields, authority };
}

/** Istio's isInternalHeader: pseudo-headers and `host` cannot be set, added or removed as headers. */
const isInternal = (key: string): boolean => key.startsWith(':') || key.toLowerCase() === 'host';
/** Istio's isAuthorityHeader. */
const isAuthority = (key: string): boolean => key.toLowerCase() === ':authority' || key.toLowerCase() === 'host';

/** Adds the side's header lists to `out`; returns the authority its `set` (else `add`) names. */
function addOps(out: Record<string, unknown>, side: 'request' | 'response', ops: HeaderOperations | undefined): string | undefined {
  if (!ops) return undefined;
  const add: Record<string, unknown>[] = [];
  let setAuthority: string | undefined;
  let addAuthority: string | undefined;
  // Envoy's default append action (APPEND_IF_EXISTS_OR_ADD) is Istio's `add`; `set` overwrites.
  for (const [key, value] of Object.entries(ops.set ?? {})) {
    if (isAuthority(key)) setAuthority = value;
    if (!isInternal(key)) add.push({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });
  }
  for (const [key, value] of Object.entries(ops.add ?? {})) {
    if (isAuthority(key)) addAuthority = value;
    if (!isInternal(key)) add.push({ header: { key, value } });
  }
  if (add.length > 0) out[`${side}_headers_to_add`] = add;
  const remove = (ops.remove ?? []).filter((k) => !isInternal(k));
  if (remove.length > 0) out[`${side}_headers_to_remove`] = remove;
  // Istio takes `set`'s authority over `add`'s, and an empty one is none.
  return setAuthority || addAuthority || undefined;
}
