// Envoy access-log formats compiled once: the command operators of Istio's default TEXT format
// (`%START_TIME%`, `%REQ(X?Y):N%`, `%RESPONSE_FLAGS%`, ...) into an array of small field readers,
// and Istio's default JSON layout. Formatting a line walks the array; nothing is parsed per request.
import { compileDateFormat } from './date-format.ts';
import { AccessLogFormatError } from './format-error.ts';
import type { AccessLogRecord } from './record.ts';

/** Istio's default TEXT format (`pilot/pkg/model/telemetry_logging.go`). */
export const ISTIO_DEFAULT_TEXT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% ' +
  '%BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% ' +
  '%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n';

/** Istio's default JSON access log: key → command operator. */
export const ISTIO_DEFAULT_JSON_FORMAT: Readonly<Record<string, string>> = Object.freeze({
  start_time: '%START_TIME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  connection_termination_details: '%CONNECTION_TERMINATION_DETAILS%',
  upstream_transport_failure_reason: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration: '%DURATION%',
  upstream_service_time: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
  user_agent: '%REQ(USER-AGENT)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  authority: '%REQ(:AUTHORITY)%',
  upstream_host: '%UPSTREAM_HOST%',
  upstream_cluster: '%UPSTREAM_CLUSTER%',
  upstream_local_address: '%UPSTREAM_LOCAL_ADDRESS%',
  downstream_local_address: '%DOWNSTREAM_LOCAL_ADDRESS%',
  downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
  requested_server_name: '%REQUESTED_SERVER_NAME%',
  route_name: '%ROUTE_NAME%',
});

export { AccessLogFormatError };

/**
 * Reads one value; `null` renders as `-` in text and `null` in JSON. A metadata value keeps its type in
 * JSON (`true`, an object) and is written as JSON in text, a string as it is (Envoy's MetadataFormatter).
 */
type Reader = (r: AccessLogRecord) => string | number | boolean | object | null;

const orNull = (v: string) => (v === '' ? null : v);

/** Envoy's default START_TIME format: rendered once per second, the milliseconds per line. */
const defaultStartTime = compileDateFormat('%Y-%m-%dT%H:%M:%E3SZ');

const simple: Readonly<Record<string, Reader>> = {
  START_TIME: (r) => defaultStartTime(r.startTime),
  PROTOCOL: (r) => orNull(r.protocol),
  RESPONSE_CODE: (r) => r.responseCode,
  RESPONSE_FLAGS: (r) => r.responseFlags,
  RESPONSE_CODE_DETAILS: (r) => orNull(r.responseCodeDetails),
  CONNECTION_TERMINATION_DETAILS: (r) => orNull(r.connectionTerminationDetails),
  UPSTREAM_TRANSPORT_FAILURE_REASON: (r) => orNull(r.upstreamTransportFailureReason),
  BYTES_RECEIVED: (r) => r.bytesReceived,
  BYTES_SENT: (r) => r.bytesSent,
  // Whole milliseconds, truncated (Envoy's duration_cast<milliseconds>).
  DURATION: (r) => Math.trunc(r.durationMs),
  UPSTREAM_HOST: (r) => orNull(r.upstreamHost),
  UPSTREAM_CLUSTER: (r) => orNull(r.upstreamCluster),
  // The cluster's name; %UPSTREAM_CLUSTER% its alt_stat_name where it has one, which no cluster here has.
  UPSTREAM_CLUSTER_RAW: (r) => orNull(r.upstreamCluster),
  // The router's tries of the request (tcp_proxy's connect attempts); 0 where none was made.
  UPSTREAM_REQUEST_ATTEMPT_COUNT: (r) => r.attemptCount,
  UPSTREAM_LOCAL_ADDRESS: (r) => orNull(r.upstreamLocalAddress),
  DOWNSTREAM_LOCAL_ADDRESS: (r) => orNull(r.downstreamLocalAddress),
  DOWNSTREAM_REMOTE_ADDRESS: (r) => orNull(r.downstreamRemoteAddress),
  REQUESTED_SERVER_NAME: (r) => orNull(r.requestedServerName),
  ROUTE_NAME: (r) => orNull(r.routeName),
  METHOD: (r) => orNull(r.method),
};

function headerReader(kind: 'REQ' | 'RESP', arg: string, maxLen: number | undefined): Reader {
  const [main = '', alt] = arg.toLowerCase().split('?');
  const get = (r: AccessLogRecord, name: string): string | undefined => {
    if (kind === 'RESP') return r.responseHeader(name);
    // A TCP connection has neither: `-`, as Envoy logs them for tcp_proxy.
    if (name === ':method') return r.method || undefined;
    if (name === ':path') return r.path || undefined;
    return r.requestHeader(name);
  };
  return (r) => {
    let v = get(r, main);
    if (v === undefined && alt) v = get(r, alt);
    if (v === undefined) return null;
    return maxLen !== undefined ? v.slice(0, maxLen) : v;
  };
}

/**
 * Envoy's `%DYNAMIC_METADATA(NAMESPACE:KEY*):Z%`: the namespace's struct, or the value at the key path in
 * it; `-` where there is none. `%DYNAMIC_METADATA(envoy.common:access_log_hint)%` is `true` on a request
 * or connection an AUDIT policy matched (RBAC's `LOG` action).
 */
function dynamicMetadataReader(arg: string, maxLen: number | undefined): Reader {
  const [namespace = '', ...path] = arg.split(':');
  if (namespace === '' || path.some((k) => k === '')) throw new AccessLogFormatError(`%DYNAMIC_METADATA(${arg})%: expected NAMESPACE or NAMESPACE:KEY[:KEY...]`);
  return (r) => {
    let v: unknown = r.dynamicMetadata?.get(namespace);
    for (const k of path) {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
      v = (v as Record<string, unknown>)[k];
    }
    if (v === undefined || v === null) return null;
    if (maxLen === undefined) return v as string | number | boolean | object;
    return (typeof v === 'string' ? v : JSON.stringify(v)).slice(0, maxLen);
  };
}

const commandPattern = /%([A-Z_]+)(?:\(([^)]*)\))?(?::(\d+))?%/g;

/** Compiles one command operator (`%REQ(:PATH)%`) to a reader; throws on an unknown command. */
export function compileCommand(cmd: string, arg: string | undefined, maxLen: number | undefined): Reader {
  if (cmd === 'REQ' || cmd === 'RESP') {
    if (!arg) throw new AccessLogFormatError(`%${cmd}% needs a header name`);
    return headerReader(cmd, arg, maxLen);
  }
  if (cmd === 'START_TIME' && arg) {
    const date = compileDateFormat(arg);
    return (r) => date(r.startTime);
  }
  if (cmd === 'DYNAMIC_METADATA') {
    if (!arg) throw new AccessLogFormatError('%DYNAMIC_METADATA% needs a namespace');
    return dynamicMetadataReader(arg, maxLen);
  }
  const r = simple[cmd];
  if (!r) throw new AccessLogFormatError(`unsupported access log command %${cmd}%`);
  return r;
}

/** A compiled TEXT format: literal pieces and readers alternate. */
export function compileTextFormat(format: string): (r: AccessLogRecord) => string {
  const literals: string[] = [];
  const readers: Reader[] = [];
  let last = 0;
  for (const m of format.matchAll(commandPattern)) {
    literals.push(format.slice(last, m.index));
    readers.push(compileCommand(m[1] ?? '', m[2], m[3] === undefined ? undefined : Number(m[3])));
    last = m.index + m[0].length;
  }
  literals.push(format.slice(last));
  return (r) => {
    let out = literals[0] ?? '';
    for (let i = 0; i < readers.length; i++) {
      const v = (readers[i] as Reader)(r);
      out += (v === null ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v)) + (literals[i + 1] ?? '');
    }
    return out;
  };
}

/**
 * A compiled JSON format. Each value is a format string, as Envoy's json_format: one command operator
 * alone keeps its value's type; commands mixed with text make a string (`-` for a missing value); text
 * without a command is itself.
 */
export function compileJsonFormat(format: Readonly<Record<string, string>>): (r: AccessLogRecord) => string {
  const fields: [string, Reader][] = Object.entries(format).map(([key, value]) => {
    const m = /^%([A-Z_]+)(?:\(([^)]*)\))?(?::(\d+))?%$/.exec(value);
    if (m) return [key, compileCommand(m[1] ?? '', m[2], m[3] === undefined ? undefined : Number(m[3]))];
    return [key, compileTextFormat(value)];
  });
  return (r) => {
    const o: Record<string, string | number | boolean | object | null> = {};
    for (const [k, read] of fields) o[k] = read(r);
    return `${JSON.stringify(o)}\n`;
  };
}
