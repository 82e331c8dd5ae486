// VirtualService (networking.istio.io v1alpha3/v1beta1/v1) with Istio's validation rules from
// pkg/config/validation: route/redirect/directResponse exclusivity, weights, header names, regexes.
import * as z from 'zod';
import { hostMatches } from '../../model/host.ts';
import {
  bool,
  deprecated,
  duration,
  excludes,
  headerList,
  headerMap,
  int,

  obj,
  oneOf,
  percent,
  port,
  portSelector,
  regex,
  str,
  stringMatch,
  strList,
  strMap,
  uint,
  withRules,
} from './common.ts';

export const destination = obj({ host: z.string().min(1), subset: str.optional(), port: portSelector.optional() });

const headerOperations = obj({
  set: headerMap(str, false).optional(),
  add: headerMap(str, false).optional(),
  remove: headerList.optional(),
});

/**
 * Istio's rules for the names a header operation takes (pkg/config/validation, isInternalHeader): a route's
 * request `set` and `add` may name `:authority` or `host` (the authority to rewrite to) but no other
 * pseudo-header (ValidateHTTPHeaderWithAuthorityOperationName); a weighted destination's request `set` and
 * `add` may name `host` but no pseudo-header, `:authority` included (validateHTTPRouteDestinations,
 * ValidateHTTPHeaderWithHostOperationName); a request's `remove` and a response's `set`, `add` and `remove`
 * take neither `host` nor a pseudo-header (ValidateHTTPHeaderOperationName).
 */
type HeaderNameMode = 'authority' | 'host' | 'plain';

function internalHeaderProblem(name: string, mode: HeaderNameMode): string | undefined {
  if (name.startsWith(':')) {
    return mode === 'authority' && name.toLowerCase() === ':authority' ? undefined : `invalid header ${JSON.stringify(name)}: header cannot have ":" prefix`;
  }
  if (mode === 'plain' && name.toLowerCase() === 'host') return `invalid header ${JSON.stringify(name)}: cannot set Host header`;
  return undefined;
}

/** `setAdd`: the rule of the request's (or response's) `set` and `add`; `remove` is always 'plain'. */
function internalHeaders(setAdd: HeaderNameMode) {
  return (v: Record<string, unknown>, add: (path: PropertyKey[], code: string, message: string) => void): void => {
    for (const op of ['set', 'add'] as const) {
      const map = v[op];
      if (!map || typeof map !== 'object' || Array.isArray(map)) continue;
      for (const name of Object.keys(map)) {
        const problem = internalHeaderProblem(name, setAdd);
        if (problem) add([op, name], 'OR1024', problem);
      }
    }
    const remove = v['remove'];
    if (!Array.isArray(remove)) return;
    remove.forEach((name, i) => {
      const problem = typeof name === 'string' ? internalHeaderProblem(name, 'plain') : undefined;
      if (problem) add(['remove', i], 'OR1024', problem);
    });
  };
}

const responseHeaders = withRules(headerOperations, internalHeaders('plain')).optional();
const headers = obj({ request: withRules(headerOperations, internalHeaders('authority')).optional(), response: responseHeaders });
/** A weighted destination's: its request `set`/`add` take `host`, never `:authority` (Istio's WithHost rule). */
const destinationHeaders = obj({ request: withRules(headerOperations, internalHeaders('host')).optional(), response: responseHeaders });

const httpMatch = obj({
  name: str.optional(),
  uri: stringMatch.optional(),
  scheme: stringMatch.optional(),
  method: stringMatch.optional(),
  authority: stringMatch.optional(),
  headers: headerMap(stringMatch, true).optional(),
  port: port.optional(),
  sourceLabels: strMap.optional(),
  gateways: strList.optional(),
  queryParams: z.record(z.string(), stringMatch).optional(),
  ignoreUriCase: bool.optional(),
  withoutHeaders: headerMap(stringMatch, true).optional(),
  sourceNamespace: str.optional(),
  statPrefix: str.optional(),
});

const weight = int.optional();

const httpRouteDestination = obj({ destination, weight, headers: destinationHeaders.optional() });
const routeDestination = obj({ destination, weight });

const redirect = withRules(
  obj({
    uri: str.optional(),
    authority: str.optional(),
    port: port.optional(),
    derivePort: z.enum(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']).optional(),
    scheme: str.optional(),
    redirectCode: int.refine((c) => c >= 300 && c <= 399, { message: 'redirectCode must be a 3xx status', params: { code: 'OR1024' } }).optional(),
  }),
  oneOf(['port', 'derivePort']),
);

const MAX_DIRECT_RESPONSE_BODY = 1024 * 1024;
const directResponse = obj({
  status: int.refine((s) => s >= 200 && s <= 599, { message: 'status must be between 200 and 599', params: { code: 'OR1024' } }),
  body: withRules(
    obj({
      string: str.max(MAX_DIRECT_RESPONSE_BODY, 'direct response bodies are limited to 1 MiB').optional(),
      bytes: z.base64('bytes must be base64').optional(),
    }),
    oneOf(['string', 'bytes']),
  ).optional(),
});

const rewrite = withRules(
  obj({
    uri: str.optional(),
    authority: str.optional(),
    uriRegexRewrite: obj({ match: regex, rewrite: str }).optional(),
  }),
  oneOf(['uri', 'uriRegexRewrite']),
);

const retryOnPolicies = new Set([
  '5xx', 'gateway-error', 'reset', 'reset-before-request', 'connect-failure', 'envoy-ratelimited', 'retriable-4xx',
  'refused-stream', 'retriable-status-codes', 'retriable-headers', 'http3-post-connect-failure',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
]);

const retryOn = z.string().superRefine((text, ctx) => {
  for (const raw of text.split(',')) {
    const p = raw.trim();
    if (retryOnPolicies.has(p) || /^[1-5]\d\d$/.test(p)) continue;
    ctx.addIssue({ code: 'custom', message: `"${p}" is not a retry policy (${[...retryOnPolicies].slice(0, 6).join(', ')}, ... or a status code)`, params: { code: 'OR1023' } });
  }
});

const retries = withRules(
  obj({
    attempts: uint.optional(),
    perTryTimeout: duration.optional(),
    retryOn: retryOn.optional(),
    retryRemoteLocalities: bool.optional(),
    retryIgnorePreviousHosts: bool.optional(),
    backoff: duration.optional(),
  }),
  // Istio's validateHTTPRetry: attempts 0 (unset is 0) disables retries, so a policy beside it is a mistake.
  (v, add) => {
    if (v['attempts'] !== undefined && v['attempts'] !== 0) return;
    const set = ['perTryTimeout', 'retryOn', 'retryRemoteLocalities'].filter((f) => v[f] !== undefined);
    if (set.length === 0) return;
    const attempts = v['attempts'] === undefined ? 'attempts is unset (0)' : 'attempts is 0';
    add(v['attempts'] === undefined ? [] : ['attempts'], 'OR1024', `http retry policy configured when attempts are set to 0 (disabled): ${attempts} but ${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set; give attempts above 0, or remove ${set.join(', ')}`);
  },
);

/** Istio's SupportedGRPCStatus (pkg/util/grpc): the names a gRPC abort fault may inject, by code. */
export const grpcStatusNames = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
] as const;
const grpcStatusSet: ReadonlySet<string> = new Set(grpcStatusNames);

/** Istio's validateGRPCStatus: one of those names, exactly (no codes, no lower case). */
const grpcStatus = z.string().superRefine((status, ctx) => {
  if (grpcStatusSet.has(status)) return;
  ctx.addIssue({
    code: 'custom',
    message: `gRPC status "${status}" is not supported; use one of ${grpcStatusNames.join(', ')}`,
    params: { code: 'OR1023', values: [...grpcStatusNames] },
  });
});

const fault = obj({
  delay: withRules(
    obj({ fixedDelay: duration.optional(), exponentialDelay: duration.optional(), percentage: percent.optional(), percent: z.number().int().min(0).max(100).optional() }),
    oneOf(['fixedDelay', 'exponentialDelay'], true),
    deprecated('percent', 'percentage'),
  ).optional(),
  abort: withRules(
    obj({
      httpStatus: int.refine((s) => s >= 200 && s <= 599, { message: 'httpStatus must be between 200 and 599', params: { code: 'OR1024' } }).optional(),
      grpcStatus: grpcStatus.optional(),
      http2Error: str.optional(),
      percentage: percent.optional(),
    }),
    oneOf(['httpStatus', 'grpcStatus', 'http2Error'], true),
  ).optional(),
});

const corsPolicy = withRules(
  obj({
    allowOrigins: z.array(stringMatch).optional(),
    allowOrigin: strList.optional(),
    allowMethods: strList.optional(),
    allowHeaders: strList.optional(),
    exposeHeaders: strList.optional(),
    maxAge: duration.optional(),
    allowCredentials: bool.optional(),
    unmatchedPreflights: z.enum(['UNSPECIFIED', 'FORWARD', 'IGNORE']).optional(),
  }),
  deprecated('allowOrigin', 'allowOrigins'),
);

const mirrorPolicy = obj({ destination, percentage: percent.optional() });

/** Weights must be 0..100; their total must not be 0 and should be 100 (Istio treats them as relative). */
function weights(value: Record<string, unknown>, add: (path: PropertyKey[], code: string, message: string) => void): void {
  const route = value['route'];
  if (!Array.isArray(route)) return;
  let total = 0;
  let bad = false;
  route.forEach((d: unknown, i) => {
    const w = d && typeof d === 'object' ? (d as Record<string, unknown>)['weight'] : undefined;
    if (typeof w !== 'number') return;
    if (w < 0 || w > 100) {
      bad = true;
      add(['route', i, 'weight'], 'OR1030', `weight ${w} is outside 0..100`);
    }
    total += w;
  });
  if (bad || route.length < 2) return;
  const anyWeight = route.some((d: unknown) => d && typeof d === 'object' && typeof (d as Record<string, unknown>)['weight'] === 'number');
  if (!anyWeight) return;
  if (total === 0) add(['route'], 'OR1030', 'destination weights add up to 0: no traffic can be routed');
  else if (total !== 100) add(['route'], 'OR1031', `destination weights add up to ${total}, not 100`);
}

const httpRoute = withRules(
  obj({
    name: str.optional(),
    match: z.array(httpMatch).optional(),
    route: z.array(httpRouteDestination).optional(),
    redirect: redirect.optional(),
    directResponse: directResponse.optional(),
    delegate: obj({ name: str, namespace: str.optional() }).optional(),
    rewrite: rewrite.optional(),
    timeout: duration.optional(),
    retries: retries.optional(),
    fault: fault.optional(),
    mirror: destination.optional(),
    mirrorPercentage: percent.optional(),
    mirrorPercent: z.number().int().min(0).max(100).optional(),
    mirrors: z.array(mirrorPolicy).optional(),
    corsPolicy: corsPolicy.optional(),
    headers: headers.optional(),
  }),
  (v, add) => {
    if (v['route'] === undefined && v['redirect'] === undefined && v['directResponse'] === undefined && v['delegate'] === undefined) {
      add([], 'OR1029', 'an HTTP route needs one of route, redirect, directResponse or delegate');
    }
  },
  excludes('redirect', ['route', 'directResponse', 'fault', 'rewrite']),
  excludes('directResponse', ['route', 'fault', 'rewrite']),
  excludes('delegate', ['route', 'redirect', 'directResponse']),
  excludes('mirror', ['mirrors']),
  deprecated('mirrorPercent', 'mirrorPercentage'),
  weights,
);

const l4Match = obj({
  destinationSubnets: strList.optional(),
  port: port.optional(),
  sourceSubnet: str.optional(),
  sourceLabels: strMap.optional(),
  gateways: strList.optional(),
  sourceNamespace: str.optional(),
});

const tlsMatch = obj({
  sniHosts: z.array(z.string()).min(1, 'sniHosts must name at least one host'),
  destinationSubnets: strList.optional(),
  port: port.optional(),
  sourceLabels: strMap.optional(),
  gateways: strList.optional(),
  sourceNamespace: str.optional(),
});

const tcpRoute = withRules(obj({ match: z.array(l4Match).optional(), route: z.array(routeDestination).optional() }), weights);
const tlsRoute = withRules(obj({ match: z.array(tlsMatch).min(1, 'a TLS route needs at least one match'), route: z.array(routeDestination).optional() }), weights);

export const virtualServiceSpec = withRules(
  obj({
    hosts: strList.optional(),
    gateways: strList.optional(),
    http: z.array(httpRoute).optional(),
    tls: z.array(tlsRoute).optional(),
    tcp: z.array(tcpRoute).optional(),
    exportTo: strList.optional(),
  }),
  (v, add) => {
    const hosts = v['hosts'];
    if (Array.isArray(hosts) && hosts.length === 0) add(['hosts'], 'OR1022', 'a VirtualService needs at least one host');
    // Istio's validateSniHost: a TLS route's SNIs are within the VirtualService's hosts, so no route
    // takes the TLS of a host it was not written for (`*` only where the hosts have `*`).
    if (!Array.isArray(hosts) || hosts.length === 0) return;
    const within = (sni: string) => hosts.some((h) => typeof h === 'string' && hostMatches(h.toLowerCase(), sni.toLowerCase()));
    for (const [i, route] of ((v['tls'] as { match?: { sniHosts?: unknown[] }[] }[] | undefined) ?? []).entries()) {
      for (const [j, m] of (route?.match ?? []).entries()) {
        for (const [k, sni] of (m?.sniHosts ?? []).entries()) {
          if (typeof sni === 'string' && !within(sni)) add(['tls', i, 'match', j, 'sniHosts', k], 'OR1024', `the SNI host ${JSON.stringify(sni)} is not a subset of the virtual service hosts (${hosts.join(', ')})`);
        }
      }
    }
  },
);

