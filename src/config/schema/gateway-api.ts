// The Kubernetes Gateway API (gateway.networking.k8s.io): HTTPRoute, GRPCRoute, TCPRoute, TLSRoute,
// Gateway, GatewayClass and ReferenceGrant, with the rules the API server's CRD validation applies (filter type ↔ field, path
// values, the duration format, weights, listener TLS), so a bad route is refused here with its place.
import * as z from 'zod';
import { parseDurationMs } from '../../xds/duration.ts';
import { headerNameProblem, int, issueCode, obj, port, regexProblem, str, strMap, withRules } from './common.ts';
import { labelSelector } from './kubernetes.ts';

/** GEP-2257 durations: 1 to 4 parts of `h`, `m`, `s` or `ms`, as `1h30m` or `500ms`; `0s` means none. */
const gatewayDuration = z.string().superRefine((text, ctx) => {
  if (!/^([0-9]{1,5}(h|m|s|ms)){1,4}$/.test(text) || parseDurationMs(text) === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a Gateway API duration (write e.g. 500ms, 10s, 1m30s)`, ...issueCode('OR1025') });
  }
});

const headerName = z.string().superRefine((name, ctx) => {
  const problem = headerNameProblem(name, false);
  if (problem) ctx.addIssue({ code: 'custom', message: problem, ...issueCode('OR1027') });
});

const headerValue = z.string().superRefine((v, ctx) => {
  if (/[\0\r\n]/.test(v)) ctx.addIssue({ code: 'custom', message: 'a header value must not hold NUL, CR or LF', ...issueCode('OR1042') });
});

const hostname = z.string().superRefine((h, ctx) => {
  if (!/^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(h)) {
    ctx.addIssue({ code: 'custom', message: `"${h}" is not a hostname: lower-case DNS labels, optionally after a leading "*."`, ...issueCode('OR1024') });
  }
});

export const parentRef = obj({
  group: str.optional(),
  kind: str.optional(),
  namespace: str.optional(),
  name: z.string().min(1),
  sectionName: str.optional(),
  port: port.optional(),
});

const valueMatch = (what: string) =>
  withRules(
    obj({ type: z.enum(['Exact', 'RegularExpression']).optional(), name: what === 'header' ? headerName : z.string().min(1), value: str }),
    (v, add) => {
      if (v['type'] === 'RegularExpression' && typeof v['value'] === 'string') {
        const problem = regexProblem(v['value']);
        if (problem) add(['value'], 'OR1026', problem);
      }
    },
  );

const pathMatch = withRules(obj({ type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']).optional(), value: str.optional() }), (v, add) => {
  const value = v['value'];
  if (typeof value !== 'string') return;
  if (v['type'] === 'RegularExpression') {
    const problem = regexProblem(value);
    if (problem) add(['value'], 'OR1026', problem);
  } else if (!value.startsWith('/')) add(['value'], 'OR1024', `path "${value}" must start with "/"`);
  else if (/\/\/|\/\.\.?(\/|$)|[#?]/.test(value)) add(['value'], 'OR1024', `path "${value}" must not hold "//", "/./", "/../", "?" or "#"`);
});

const httpMatch = obj({
  path: pathMatch.optional(),
  headers: z.array(valueMatch('header')).optional(),
  queryParams: z.array(valueMatch('query')).optional(),
  method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']).optional(),
});

const header = obj({ name: headerName, value: headerValue });
const headerFilter = obj({ set: z.array(header).optional(), add: z.array(header).optional(), remove: z.array(headerName).optional() });

const pathModifier = withRules(
  obj({ type: z.enum(['ReplaceFullPath', 'ReplacePrefixMatch']), replaceFullPath: str.optional(), replacePrefixMatch: str.optional() }),
  (v, add) => {
    const field = v['type'] === 'ReplaceFullPath' ? 'replaceFullPath' : v['type'] === 'ReplacePrefixMatch' ? 'replacePrefixMatch' : undefined;
    if (!field) return;
    const other = field === 'replaceFullPath' ? 'replacePrefixMatch' : 'replaceFullPath';
    if (v[field] === undefined) add([], 'OR1022', `type ${String(v['type'])} needs ${field}`);
    if (v[other] !== undefined) add([other], 'OR1029', `${other} cannot be used with type ${String(v['type'])}`);
  },
);

export const backendObjectRef = obj({ group: str.optional(), kind: str.optional(), name: z.string().min(1), namespace: str.optional(), port: port.optional() });

/** A Service backend needs its port (the API server's CEL rule). */
function servicePortRequired(v: Record<string, unknown>, add: (path: PropertyKey[], code: string, message: string) => void): void {
  const core = (v['group'] ?? '') === '' && (v['kind'] ?? 'Service') === 'Service';
  if (core && v['port'] === undefined) add([], 'OR1022', 'a Service backend needs its port: add port');
}

const filterFields = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  RequestMirror: 'requestMirror',
  CORS: 'cors',
  ExtensionRef: 'extensionRef',
} as const;

const filter = withRules(
  obj({
    type: z.enum(Object.keys(filterFields) as [keyof typeof filterFields]),
    requestHeaderModifier: headerFilter.optional(),
    responseHeaderModifier: headerFilter.optional(),
    requestRedirect: obj({
      scheme: z.enum(['http', 'https']).optional(),
      hostname: hostname.optional(),
      path: pathModifier.optional(),
      port: port.optional(),
      statusCode: int.refine((c) => [301, 302, 303, 307, 308].includes(c), { message: 'statusCode must be 301, 302, 303, 307 or 308', ...issueCode('OR1024') }).optional(),
    }).optional(),
    urlRewrite: obj({ hostname: hostname.optional(), path: pathModifier.optional() }).optional(),
    requestMirror: withRules(
      obj({
        backendRef: withRules(backendObjectRef, servicePortRequired),
        percent: int.min(0).max(100).optional(),
        fraction: withRules(obj({ numerator: int.min(0), denominator: int.min(1).optional() }), (v, add) => {
          if (typeof v['numerator'] === 'number' && v['numerator'] > ((v['denominator'] as number | undefined) ?? 100)) add(['numerator'], 'OR1024', 'numerator must not exceed denominator');
        }).optional(),
      }),
      (v, add) => {
        if (v['percent'] !== undefined && v['fraction'] !== undefined) add(['fraction'], 'OR1029', 'only one of percent, fraction may be set');
      },
    ).optional(),
    cors: obj({
      allowOrigins: z.array(z.string().min(1)).max(64).optional(),
      allowCredentials: z.boolean().optional(),
      allowMethods: z.array(str).max(9).optional(),
      allowHeaders: z.array(headerName).max(64).optional(),
      exposeHeaders: z.array(headerName).max(64).optional(),
      maxAge: int.min(1).optional(),
    }).optional(),
    extensionRef: obj({ group: str, kind: str, name: str }).optional(),
  }),
  (v, add) => {
    const type = v['type'] as keyof typeof filterFields | undefined;
    if (type === 'ExtensionRef') add(['type'], 'OR1024', 'ExtensionRef filters name another implementation\'s extensions; Outrigger has none: remove the filter');
    const wanted = type ? filterFields[type] : undefined;
    if (!wanted) return;
    if (v[wanted] === undefined) add([], 'OR1022', `a ${type} filter needs ${wanted}`);
    for (const f of Object.values(filterFields)) {
      if (f !== wanted && v[f] !== undefined) add([f], 'OR1029', `${f} cannot be used in a ${type} filter`);
    }
  },
);

/** A backendRef's fields, the same in every route kind that has filters on it (HTTPRoute, GRPCRoute). */
/** A backendRef with its weight (every route kind's), and with filters (HTTPRoute's and GRPCRoute's). */
const weightedBackendRef = backendObjectRef.extend({ weight: int.min(0).max(1_000_000).optional() });
const backendRefFields = weightedBackendRef.extend({ filters: z.array(filter).optional() });

const backendRef = withRules(
  backendRefFields,
  servicePortRequired,
  (v, add) => {
    const filters = Array.isArray(v['filters']) ? (v['filters'] as Record<string, unknown>[]) : [];
    filters.forEach((f, i) => {
      const type = f?.['type'];
      if (typeof type === 'string' && type !== 'RequestHeaderModifier' && type !== 'ResponseHeaderModifier') {
        add(['filters', i, 'type'], 'OR1024', `a backendRef's filters may modify headers only; put ${type} in the rule's filters`);
      }
    });
  },
);

type Add = (path: PropertyKey[], code: string, message: string) => void;

/** A rule may redirect or rewrite, not both; ReplacePrefixMatch needs PathPrefix matches (CEL rules). */
function ruleFilters(v: Record<string, unknown>, add: Add): void {
  const filters = Array.isArray(v['filters']) ? (v['filters'] as Record<string, unknown>[]) : [];
  const types = filters.map((f) => f?.['type']);
  const redirect = types.indexOf('RequestRedirect');
  if (redirect >= 0 && types.includes('URLRewrite')) add(['filters', types.indexOf('URLRewrite')], 'OR1029', 'a rule cannot both redirect (RequestRedirect) and rewrite (URLRewrite)');
  if (redirect >= 0 && Array.isArray(v['backendRefs']) && v['backendRefs'].length > 0) add(['backendRefs'], 'OR1029', 'a rule that redirects (RequestRedirect) cannot have backendRefs');
  for (const t of ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite']) {
    const at = types.indexOf(t);
    if (at >= 0 && types.indexOf(t, at + 1) > 0) add(['filters', types.indexOf(t, at + 1)], 'OR1029', `${t} may appear once in a rule's filters`);
  }
  const matches = Array.isArray(v['matches']) ? (v['matches'] as Record<string, unknown>[]) : [];
  filters.forEach((f, i) => {
    const path = ((f?.['requestRedirect'] ?? f?.['urlRewrite']) as Record<string, unknown> | undefined)?.['path'] as Record<string, unknown> | undefined;
    if (path?.['type'] !== 'ReplacePrefixMatch') return;
    const ok = matches.length === 1 && ((matches[0]?.['path'] as Record<string, unknown> | undefined)?.['type'] ?? 'PathPrefix') === 'PathPrefix';
    if (!ok) add(['filters', i], 'OR1024', 'ReplacePrefixMatch needs exactly one match, of type PathPrefix');
  });
  const t = v['timeouts'] as Record<string, unknown> | undefined;
  if (typeof t?.['request'] === 'string' && typeof t['backendRequest'] === 'string') {
    const request = parseDurationMs(t['request']);
    const backend = parseDurationMs(t['backendRequest']);
    if (request && backend !== undefined && backend > request) add(['timeouts', 'backendRequest'], 'OR1024', 'backendRequest must not be longer than request');
  }
}

const httpRule = withRules(
  obj({
    name: str.optional(),
    matches: z.array(httpMatch).max(64).optional(),
    filters: z.array(filter).max(16).optional(),
    backendRefs: z.array(backendRef).max(16).optional(),
    timeouts: obj({ request: gatewayDuration.optional(), backendRequest: gatewayDuration.optional() }).optional(),
    retry: obj({ codes: z.array(int.min(400).max(599)).optional(), attempts: int.min(0).optional(), backoff: gatewayDuration.optional() }).optional(),
    // Accepted and ignored, as Istio's conversion ignores it (use a DestinationRule consistentHash).
    sessionPersistence: z.unknown().optional(),
  }),
  ruleFilters,
);

export const httpRouteSpec = obj({
  parentRefs: z.array(parentRef).max(32).optional(),
  hostnames: z.array(hostname).max(16).optional(),
  rules: z.array(httpRule).max(16).optional(),
});

/** A gRPC method: `/service/method`; a match names the service, the method or both. */
const grpcMethodMatch = withRules(
  obj({ type: z.enum(['Exact', 'RegularExpression']).optional(), service: str.optional(), method: str.optional() }),
  (v, add) => {
    if (v['service'] === undefined && v['method'] === undefined) add([], 'OR1022', 'a gRPC method match needs service, method or both');
    for (const f of ['service', 'method']) {
      const value = v[f];
      if (typeof value !== 'string') continue;
      if (v['type'] === 'RegularExpression') {
        const problem = regexProblem(value);
        if (problem) add([f], 'OR1026', problem);
      } else if (value === '' || value.includes('/')) add([f], 'OR1024', `${f} "${value}" must be a non-empty name without "/"`);
    }
  },
);

const grpcFilterTypes = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror'];

/** The filters a GRPCRoute allows: header modifiers and mirrors (the API has no redirect or rewrite for gRPC). */
function grpcFilters(where: string, types: readonly string[]) {
  return (v: Record<string, unknown>, add: Add): void => {
    const filters = Array.isArray(v['filters']) ? (v['filters'] as Record<string, unknown>[]) : [];
    filters.forEach((f, i) => {
      const type = f?.['type'];
      if (typeof type === 'string' && !types.includes(type) && type !== 'ExtensionRef') add(['filters', i, 'type'], 'OR1024', `${type} is not a filter of ${where}; use ${types.join(', ')}`);
    });
  };
}

const grpcBackendRef = withRules(
  backendRefFields,
  servicePortRequired,
  grpcFilters("a GRPCRoute backendRef", ['RequestHeaderModifier', 'ResponseHeaderModifier']),
);

const grpcRule = withRules(
  obj({
    name: str.optional(),
    matches: z.array(obj({ method: grpcMethodMatch.optional(), headers: z.array(valueMatch('header')).optional() })).max(64).optional(),
    filters: z.array(filter).max(16).optional(),
    backendRefs: z.array(grpcBackendRef).max(16).optional(),
    // Accepted and ignored, as Istio's convertGRPCRoute ignores it.
    sessionPersistence: z.unknown().optional(),
  }),
  grpcFilters('a GRPCRoute rule', grpcFilterTypes),
);

export const grpcRouteSpec = obj({
  parentRefs: z.array(parentRef).max(32).optional(),
  hostnames: z.array(hostname).max(16).optional(),
  rules: z.array(grpcRule).max(16).optional(),
});

/** The rules of a TCPRoute or a TLSRoute: backends only, no matches. */
const l4Rules = (kind: string) =>
  z
    .array(
      obj({
        name: str.optional(),
        backendRefs: z
          .array(withRules(weightedBackendRef, servicePortRequired))
          .min(1)
          .max(16)
          .optional(),
      }),
    )
    .min(1, `a ${kind} needs a rule`)
    .max(16);

export const tcpRouteSpec = obj({
  parentRefs: z.array(parentRef).max(32).optional(),
  rules: l4Rules('TCPRoute'),
});

/** A TLSRoute's hostnames are the SNIs it takes (any, when it names none). */
export const tlsRouteSpec = obj({
  parentRefs: z.array(parentRef).max(32).optional(),
  hostnames: z.array(hostname).max(16).optional(),
  rules: l4Rules('TLSRoute'),
});

/** The API's CEL rules: one source of trust (a CA or the system's), and SANs of the type they say. */
export const backendTlsPolicySpec = obj({
  targetRefs: z.array(obj({ group: str, kind: z.string().min(1), name: z.string().min(1), sectionName: str.optional() })).min(1).max(16),
  validation: withRules(
    obj({
      caCertificateRefs: z.array(obj({ group: str, kind: z.string().min(1), name: z.string().min(1) })).max(8).optional(),
      wellKnownCACertificates: str.optional(),
      hostname,
      subjectAltNames: z
        .array(
          withRules(obj({ type: z.enum(['Hostname', 'URI']), hostname: hostname.optional(), uri: str.optional() }), (v, add) => {
            const field = v['type'] === 'Hostname' ? 'hostname' : 'uri';
            if (v[field] === undefined) add([], 'OR1022', `a ${String(v['type'])} subjectAltName needs ${field}`);
            if (v[field === 'hostname' ? 'uri' : 'hostname'] !== undefined) add([field === 'hostname' ? 'uri' : 'hostname'], 'OR1029', `a ${String(v['type'])} subjectAltName has only ${field}`);
          }),
        )
        .max(5)
        .optional(),
    }),
    (v, add) => {
      const refs = Array.isArray(v['caCertificateRefs']) && v['caCertificateRefs'].length > 0;
      const wellKnown = v['wellKnownCACertificates'];
      if (refs && wellKnown !== undefined) add(['wellKnownCACertificates'], 'OR1029', 'set caCertificateRefs or wellKnownCACertificates, not both');
      else if (!refs && wellKnown === undefined) add([], 'OR1022', 'validation needs caCertificateRefs (a ConfigMap with ca.crt) or wellKnownCACertificates: System');
      else if (wellKnown !== undefined && wellKnown !== 'System') add(['wellKnownCACertificates'], 'OR1023', `wellKnownCACertificates "${String(wellKnown)}" is not System`);
    },
  ),
  options: strMap.optional(),
});

const listenerProtocols = ['HTTP', 'HTTPS', 'TLS', 'TCP', 'UDP'];

const listener = withRules(
  obj({
    name: z.string().min(1),
    hostname: hostname.optional(),
    port,
    protocol: str,
    tls: obj({
      mode: z.enum(['Terminate', 'Passthrough']).optional(),
      certificateRefs: z.array(obj({ group: str.optional(), kind: str.optional(), name: str, namespace: str.optional() })).optional(),
      options: strMap.optional(),
    }).optional(),
    allowedRoutes: obj({
      namespaces: obj({ from: z.enum(['Same', 'All', 'Selector']).optional(), selector: labelSelector.optional() }).optional(),
      kinds: z.array(obj({ group: str.optional(), kind: str })).optional(),
    }).optional(),
  }),
  (v, add) => {
    const protocol = v['protocol'];
    if (typeof protocol !== 'string') return;
    if (!listenerProtocols.includes(protocol)) add(['protocol'], 'OR1023', `protocol "${protocol}" is not one of ${listenerProtocols.join(', ')}`);
    else if (protocol === 'UDP') add(['protocol'], 'OR1024', 'UDP listeners are not supported yet; Outrigger serves HTTP, HTTPS, TLS and TCP listeners');
    const tls = v['tls'] as Record<string, unknown> | undefined;
    const certs = Array.isArray(tls?.['certificateRefs']) ? tls['certificateRefs'].length : 0;
    // The CRD's rule: "certificateRefs or options must be specified when mode is Terminate" (an option
    // such as gateway.istio.io/tls-terminate-mode: ISTIO_MUTUAL needs no Secret).
    const options = tls?.['options'] && typeof tls['options'] === 'object' ? Object.keys(tls['options']).length : 0;
    if (protocol === 'HTTPS') {
      if (tls?.['mode'] === 'Passthrough') add(['tls', 'mode'], 'OR1024', 'an HTTPS listener terminates TLS; Passthrough needs a TLS listener');
      else if (certs === 0 && options === 0) add(tls ? ['tls'] : [], 'OR1022', 'an HTTPS listener needs tls.certificateRefs (a kubernetes.io/tls Secret)');
    } else if (protocol === 'TLS') {
      // The API's rules: a TLS listener says its mode; Terminate needs a certificate, Passthrough has none.
      if (!tls) add([], 'OR1022', 'a TLS listener needs tls: mode Passthrough (routed by SNI with TLSRoutes) or Terminate (with certificateRefs, for TCPRoutes)');
      else if (tls['mode'] === 'Passthrough' && certs > 0) add(['tls', 'certificateRefs'], 'OR1029', 'a Passthrough listener does not terminate TLS: remove certificateRefs');
      else if (tls['mode'] !== 'Passthrough' && certs === 0 && options === 0) add(['tls'], 'OR1022', 'a TLS listener that terminates TLS needs tls.certificateRefs (a kubernetes.io/tls Secret)');
    } else if ((protocol === 'HTTP' || protocol === 'TCP') && tls !== undefined) add(['tls'], 'OR1029', `a ${protocol} listener has no tls`);
  },
);

export const kubernetesGatewaySpec = withRules(
  obj({
    gatewayClassName: z.string().min(1),
    listeners: z.array(listener).min(1, 'a Gateway needs at least one listener').max(64),
    addresses: z.array(obj({ type: str.optional(), value: str })).optional(),
    infrastructure: obj({ labels: strMap.optional(), annotations: strMap.optional(), parametersRef: z.unknown().optional() }).optional(),
  }),
  (v, add) => {
    const listeners = Array.isArray(v['listeners']) ? (v['listeners'] as Record<string, unknown>[]) : [];
    const seen = new Set<unknown>();
    listeners.forEach((l, i) => {
      if (seen.has(l?.['name'])) add(['listeners', i, 'name'], 'OR1024', `listener name "${String(l?.['name'])}" is used twice; names must be unique`);
      seen.add(l?.['name']);
    });
  },
);

export const gatewayClassSpec = obj({
  controllerName: z.string().min(1),
  description: str.optional(),
  parametersRef: z.unknown().optional(),
});

export const referenceGrantSpec = obj({
  from: z.array(obj({ group: str, kind: z.string().min(1), namespace: z.string().min(1) })).min(1),
  to: z.array(obj({ group: str, kind: z.string().min(1), name: z.string().min(1).optional() })).min(1),
});
