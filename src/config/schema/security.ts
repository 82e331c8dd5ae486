// PeerAuthentication, AuthorizationPolicy, RequestAuthentication (security.istio.io v1beta1/v1).
import * as z from 'zod';
import { bool, duration, labelSelector, obj, oneOf, str, strList, targetRef, withRules } from './common.ts';
import { ENVOY_FILTER_KEY } from './authz-keys.ts';
import { ipOrCidrProblem } from './ip.ts';
import { parseGoBool } from './parse-bool.ts';
import { pathTemplateProblem } from './path-template.ts';

const mtlsMode = z.enum(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT']);

export const peerAuthenticationSpec = withRules(
  obj({
    selector: labelSelector.optional(),
    mtls: obj({ mode: mtlsMode.optional() }).optional(),
    portLevelMtls: z.record(z.string(), obj({ mode: mtlsMode.optional() })).optional(),
  }),
  (v, add) => {
    const ports = v['portLevelMtls'];
    if (!ports || typeof ports !== 'object') return;
    for (const key of Object.keys(ports)) {
      const n = Number(key);
      if (!Number.isInteger(n) || n < 1 || n > 65535) add(['portLevelMtls', key], 'OR1028', `port "${key}" must be a number between 1 and 65535`);
    }
    if (v['selector'] === undefined) add(['portLevelMtls'], 'OR1024', 'portLevelMtls needs a selector (Istio ignores it on namespace- or mesh-wide policies)');
  },
);

// AuthorizationPolicy: Istio's ValidateAuthorizationPolicy (pkg/config/validation/validation.go) and the
// checks it calls in pkg/config/security (CheckEmptyValues, CheckServiceAccount, ValidateIPs,
// ValidatePorts, ValidateAttribute), each error at its field. Reasons keep Istio's wording.

type Add = (path: PropertyKey[], code: string, message: string) => void;

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
/** How many values a list field holds; a value of the wrong type (already an error) counts as set. */
const count = (v: unknown): number => (Array.isArray(v) ? v.length : v === undefined ? 0 : 1);
const record = (v: unknown): Record<string, unknown> | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

/** CheckEmptyValues: an empty string in a list is refused (it would match nothing, or everything). */
function checkEmptyValues(v: Record<string, unknown>, field: string, add: Add): void {
  list(v[field]).forEach((x, i) => {
    if (x === '') add([field, i], 'OR1024', `empty value not allowed, found in ${field}; remove the entry or give it a value`);
  });
}

/** ValidateIPs on one list field: every entry an IP address or a CIDR range. */
function checkIps(values: unknown, at: PropertyKey[], add: Add, label: string): void {
  list(values).forEach((x, i) => {
    if (typeof x !== 'string' || x === '') return;
    const problem = ipOrCidrProblem(x);
    if (problem) add([...at, i], 'OR1024', `${label}${problem}; write an IP address (10.1.2.3, 2001:db8::1) or a CIDR range (10.1.0.0/16)`);
  });
}

/** CheckServiceAccount: `sa` or `namespace/sa`, no wildcard, at most 16 values of at most 320 characters. */
function checkServiceAccounts(values: unknown, at: PropertyKey[], add: Add, key: string, label = ''): void {
  const vs = list(values);
  if (vs.length > 16) add(at, 'OR1024', `${label}may not have more than 16 values, found ${vs.length} in ${key}`);
  const form = "expected format 'serviceAccount' or 'namespace/serviceAccount'";
  vs.forEach((x, i) => {
    if (typeof x !== 'string') return;
    const here = [...at, i];
    const slash = x.indexOf('/');
    if (x === '') add(here, 'OR1024', `${label}empty value not allowed, found in ${key}; remove the entry or give it a value`);
    else if (x.includes('*')) add(here, 'OR1024', `${label}wildcard not allowed, found in ${key}; name each service account`);
    else if (x.split('/').length > 2) add(here, 'OR1024', `${label}${form}, found "${x}" in ${key}`);
    else if (x.length > 320) add(here, 'OR1024', `${label}value cannot exceed 320 characters, found in ${key}`);
    else if (slash === 0) add(here, 'OR1024', `${label}${form}, found empty namespace "${x}" in ${key}`);
    else if (slash === x.length - 1) add(here, 'OR1024', `${label}${form}, found empty serviceAccount "${x}" in ${key}`);
  });
}

/** ValidatePorts: a decimal port number. Outrigger keeps its 1..65535 (Istio also takes 0, which matches no connection). */
function portProblem(p: string): string | undefined {
  if (p === '') return 'empty value not allowed; remove the entry or give it a port number';
  const n = Number(p);
  return !/^\d+$/.test(p) || n < 1 || n > 65535 ? `bad port (${p}): must be a number between 1 and 65535` : undefined;
}

const SOURCE_LISTS = ['principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces', 'ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'];
const SOURCE_FIELDS = [...SOURCE_LISTS, 'serviceAccounts', 'notServiceAccounts'];
const IP_FIELDS = ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'];

const source = withRules(
  obj({
    principals: strList.optional(),
    notPrincipals: strList.optional(),
    requestPrincipals: strList.optional(),
    notRequestPrincipals: strList.optional(),
    namespaces: strList.optional(),
    notNamespaces: strList.optional(),
    serviceAccounts: strList.optional(),
    notServiceAccounts: strList.optional(),
    ipBlocks: strList.optional(),
    notIpBlocks: strList.optional(),
    remoteIpBlocks: strList.optional(),
    notRemoteIpBlocks: strList.optional(),
  }),
  (v, add) => {
    const n = (f: string) => count(v[f]);
    if (SOURCE_FIELDS.every((f) => n(f) === 0)) {
      add([], 'OR1024', '`from.source` must not be empty; list the sources to match (principals, namespaces, ipBlocks, ...), or remove this `from` entry to match any source');
    }
    const accounts = ['serviceAccounts', 'notServiceAccounts'].find((f) => n(f) > 0);
    if (accounts && n('principals') + n('notPrincipals') + n('namespaces') + n('notNamespaces') > 0) {
      add([accounts], 'OR1029', 'cannot set serviceAccounts with namespaces or principals; use one or the other (put each in its own `from` entry to match either)');
    }
    for (const f of SOURCE_LISTS) checkEmptyValues(v, f, add);
    for (const f of IP_FIELDS) checkIps(v[f], [f], add, '');
    checkServiceAccounts(v['serviceAccounts'], ['serviceAccounts'], add, 'serviceAccounts');
    checkServiceAccounts(v['notServiceAccounts'], ['notServiceAccounts'], add, 'notServiceAccounts');
  },
);

const portString = z.string().superRefine((p, ctx) => {
  const problem = portProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: problem, params: { code: p === '' ? 'OR1024' : 'OR1028' } });
});

/** A path: exact, `prefix*`, `*suffix`, `*`, or an Istio path template (`{*}`, `{**}`). */
const pathString = z.string().superRefine((p, ctx) => {
  const problem = pathTemplateProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: `invalid path "${p}": ${problem}`, params: { code: 'OR1024' } });
});

const OPERATION_FIELDS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'];

const operation = withRules(
  obj({
    hosts: strList.optional(),
    notHosts: strList.optional(),
    ports: z.array(portString).optional(),
    notPorts: z.array(portString).optional(),
    methods: strList.optional(),
    notMethods: strList.optional(),
    paths: z.array(pathString).optional(),
    notPaths: z.array(pathString).optional(),
  }),
  (v, add) => {
    if (OPERATION_FIELDS.every((f) => count(v[f]) === 0)) {
      add([], 'OR1024', '`to.operation` must not be empty; list the operations to match (hosts, ports, methods, paths, ...), or remove this `to` entry to match any operation');
    }
    // Ports: portString says it (an empty port is not a port either).
    for (const f of ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths']) checkEmptyValues(v, f, add);
  },
);

/** The `when` keys ValidateAttribute accepts, as the message lists them. */
export const WHEN_KEYS = [
  'request.headers[NAME]',
  'source.ip',
  'remote.ip',
  'source.namespace',
  'source.principal',
  'source.serviceAccount',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'request.auth.claims[NAME]',
  'destination.ip',
  'destination.port',
  'connection.sni',
  'experimental.envoy.filters.FILTER[KEY]',
];

/** The forms Outrigger's translation reads (src/translate/authorization-rule.ts), for keys Istio's prefix checks let through. */
const MAP_KEY_FORMS: [prefix: string, form: RegExp, written: string][] = [
  ['request.headers', /^request\.headers\[.+\]$/, 'request.headers[NAME]'],
  ['request.auth.claims', /^request\.auth\.claims(?:\[[^\]]+\])+$/, 'request.auth.claims[NAME] (nested: request.auth.claims[a][b])'],
  ['experimental.envoy.filters.', ENVOY_FILTER_KEY, 'experimental.envoy.filters.FILTER[KEY]'],
];

/** Istio's validateMapKey: `a[b]`, the brackets closing the key and holding something. */
function mapKeyOk(key: string): boolean {
  const open = key.indexOf('[');
  return key.endsWith(']') && open > 0 && open < key.length - 2;
}

interface KeyProblem {
  code: string;
  message: string;
  /** Candidates for a "did you mean" (OR1023). */
  values?: string[];
}

/** ValidateAttribute's switch on the key: what is wrong with it, or undefined. */
function whenKeyProblem(key: string): KeyProblem | undefined {
  for (const [prefix, form, written] of MAP_KEY_FORMS) {
    if (!key.startsWith(prefix)) continue;
    if (!mapKeyOk(key)) return { code: 'OR1024', message: `bad key (${key}): should have format a[b]; write ${written}` };
    if (!form.test(key)) return { code: 'OR1024', message: `key ${key} is not of the form ${written}, the one Outrigger reads` };
    return undefined;
  }
  if (key.startsWith('request.experimental.inline.headers')) {
    return { code: 'OR1024', message: `attribute ${key} is not supported by Outrigger; write request.headers[NAME] (whose repeated lines match one by one)` };
  }
  const plain = ['source.ip', 'remote.ip', 'source.namespace', 'source.serviceAccount', 'source.principal', 'request.auth.principal', 'request.auth.audiences', 'request.auth.presenter', 'destination.ip', 'destination.port', 'connection.sni'];
  if (plain.includes(key)) return undefined;
  if (key === 'destination.namespace') return { code: 'OR1024', message: `attribute ${key} is replaced by the metadata.namespace; put the policy in that namespace` };
  if (key.startsWith('destination.labels')) return { code: 'OR1024', message: `attribute ${key} is replaced by the workload selector; use spec.selector.matchLabels` };
  if (key === 'destination.name' || key === 'destination.user') return { code: 'OR1024', message: `deprecated attribute ${key}: only supported in v1alpha1; use spec.selector or targetRefs` };
  // A typo in a map key keeps its brackets: offer the known prefixes with them (request.header[x] → request.headers[x]).
  const open = key.indexOf('[');
  const brackets = open > 0 ? key.slice(open) : '';
  const values = brackets ? [...plain, `request.headers${brackets}`, `request.auth.claims${brackets}`] : plain;
  return { code: 'OR1023', message: `unknown attribute: ${key}; supported keys: ${WHEN_KEYS.join(', ')}`, values };
}

/** ValidateAttribute on the values of a key Istio knows: none empty, and IPs, ports, service accounts well-formed. */
function checkWhenValues(key: string, field: 'values' | 'notValues', values: unknown, add: Add): void {
  const label = `invalid \`${field === 'values' ? 'value' : 'notValue'}\` for \`key\` ${key}: `;
  const vs = list(values);
  if (vs.some((x) => x === '')) {
    vs.forEach((x, i) => {
      if (x === '') add([field, i], 'OR1024', `${label}empty value not allowed, found in ${key}; remove the entry or give it a value`);
    });
    return;
  }
  if (key === 'source.ip' || key === 'remote.ip' || key === 'destination.ip') checkIps(vs, [field], add, label);
  else if (key === 'source.serviceAccount') checkServiceAccounts(vs, [field], add, key, label);
  else if (key === 'destination.port') {
    vs.forEach((x, i) => {
      const problem = typeof x === 'string' ? portProblem(x) : undefined;
      if (problem) add([field, i], 'OR1028', `${label}${problem}`);
    });
  }
}

/** A `when` entry. Not `withRules`: an unknown key's issue carries the candidates of its "did you mean". */
const condition = obj({ key: z.string(), values: strList.optional(), notValues: strList.optional() }).check(
  z.superRefine(
    (v, ctx) => {
      const add = (path: PropertyKey[], code: string, message: string, values?: string[]): void => {
        ctx.addIssue({ code: 'custom', message, path, input: v, params: values ? { code, values } : { code } });
      };
      const c = v as Record<string, unknown>;
      const key = c['key'];
      if (typeof key !== 'string') return;
      if (key === '') {
        add(['key'], 'OR1024', '`key` must not be empty; name an attribute such as request.headers[NAME] or source.ip');
        return;
      }
      if (count(c['values']) === 0 && count(c['notValues']) === 0) {
        add([], 'OR1022', `at least one of \`values\` or \`notValues\` must be set for key ${key}`);
      }
      const problem = whenKeyProblem(key);
      if (problem) {
        add(['key'], problem.code, problem.message, problem.values);
        return;
      }
      checkWhenValues(key, 'values', c['values'], add);
      checkWhenValues(key, 'notValues', c['notValues'], add);
    },
    { when: () => true },
  ),
);

// Istio decodes the CR so that YAML's `from: []` and `to: []` are unset (an empty repeated field is nil
// in protobuf), as for `rules: []`: they match any source or operation, and an empty `when` adds nothing.
const rule = obj({
  from: z.array(obj({ source })).optional(),
  to: z.array(obj({ operation })).optional(),
  when: z.array(condition).optional(),
});

/** Source fields and `when` keys an ext_authz (CUSTOM) rule cannot match on: the provider sees no such identity. */
const CUSTOM_SOURCE_FIELDS = ['namespaces', 'notNamespaces', 'serviceAccounts', 'notServiceAccounts', 'principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals'];
const customKey = (key: string): boolean => key === 'source.namespace' || key === 'source.serviceAccount' || key === 'source.principal' || key.startsWith('request.auth.');
const goName = (field: string): string => `From.${field[0]!.toUpperCase()}${field.slice(1)}`;

function checkCustom(v: Record<string, unknown>, add: Add): void {
  // Istio reads YAML's `rules: []` as no rules (an empty repeated field is unset in protobuf).
  if (list(v['rules']).length === 0) {
    add(['action'], 'OR1022', 'CUSTOM action without `rules` is meaningless as it will never be triggered; add an empty rule `rules: [{}]` if you want it be triggered for every request');
  }
  const provider = record(v['provider']);
  if (!provider) add(['action'], 'OR1022', 'action CUSTOM needs a provider: `provider.name` must not be empty; name one of meshConfig.extensionProviders');
  else if (provider['name'] === '') add(['provider', 'name'], 'OR1024', '`provider.name` must not be empty; name one of meshConfig.extensionProviders');
  list(v['rules']).forEach((r, i) => {
    const ru = record(r);
    list(ru?.['from']).forEach((f, j) => {
      const src = record(record(f)?.['source']);
      for (const field of CUSTOM_SOURCE_FIELDS) {
        if (list(src?.[field]).length > 0) {
          add(['rules', i, 'from', j, 'source', field], 'OR1024', `${goName(field)} is currently not supported with CUSTOM action; the provider decides on identity, or use an ALLOW/DENY policy for it`);
        }
      }
    });
    list(ru?.['when']).forEach((c, k) => {
      const key = record(c)?.['key'];
      if (typeof key === 'string' && customKey(key)) {
        add(['rules', i, 'when', k, 'key'], 'OR1024', `${key} is currently not supported with CUSTOM action; the provider decides on identity, or use an ALLOW/DENY policy for it`);
      }
    });
  });
}

export const authorizationPolicySpec = withRules(
  obj({
    selector: labelSelector.optional(),
    targetRef: targetRef.optional(),
    targetRefs: z.array(targetRef).optional(),
    rules: z.array(rule).optional(),
    action: z.enum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']).optional(),
    provider: obj({ name: str }).optional(),
  }),
  oneOf(['selector', 'targetRef', 'targetRefs']),
  (v, add) => {
    const action = v['action'] ?? 'ALLOW';
    if (action === 'CUSTOM') checkCustom(v, add);
    if (v['provider'] !== undefined && action !== 'CUSTOM') {
      add(['provider'], 'OR1029', `\`provider\` must not be with non CUSTOM action, found ${String(action)}; remove provider, or set action: CUSTOM`);
    }
    // As for CUSTOM, YAML's `rules: []` is no rules to Istio.
    if (action === 'DENY' && list(v['rules']).length === 0) {
      add(['action'], 'OR1022', 'DENY action without `rules` is meaningless as it will never be triggered; add an empty rule `rules: [{}]` if you want it be triggered for every request');
    }
  },
);

const DRY_RUN = 'istio.io/dry-run';

/**
 * Istio's checkDryRunAnnotation on an AuthorizationPolicy document: `istio.io/dry-run` only on ALLOW and
 * DENY, its value one strconv.ParseBool reads (1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False).
 */
export function checkDryRunAnnotation(v: Record<string, unknown>, add: Add): void {
  const value = record(record(v['metadata'])?.['annotations'])?.[DRY_RUN];
  if (typeof value !== 'string') return;
  const action = record(v['spec'])?.['action'] ?? 'ALLOW';
  const at = ['metadata', 'annotations', DRY_RUN];
  if (action !== 'ALLOW' && action !== 'DENY') {
    add(at, 'OR1024', `the annotation ${DRY_RUN} currently only supports action ALLOW/DENY, found action ${String(action)}; remove the annotation`);
  } else if (parseGoBool(value) === undefined) {
    add(at, 'OR1024', `annotation ${DRY_RUN} with invalid value (${value}): write "true" or "false"`);
  }
}

/** What Istio's validation (`jwk.Parse`) refuses in an inline `jwks`: not JSON, or not keys with a `kty`. */
function jwksProblem(text: string): string | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return 'jwks is not JSON';
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return 'jwks must be a JSON Web Key Set object';
  const keys = 'keys' in doc ? (doc as { keys: unknown }).keys : [doc];
  if (!Array.isArray(keys)) return 'jwks `keys` must be a list';
  const bad = keys.findIndex((k) => typeof k !== 'object' || k === null || typeof (k as { kty?: unknown }).kty !== 'string');
  return bad === -1 ? null : `jwks key ${bad} has no \`kty\``;
}

const jwtRule = withRules(
  obj({
    issuer: z.string().min(1, 'issuer is required'),
    audiences: strList.optional(),
    jwksUri: str.optional(),
    jwks: str.optional(),
    fromHeaders: z.array(obj({ name: z.string().min(1), prefix: str.optional() })).optional(),
    fromParams: strList.optional(),
    fromCookies: strList.optional(),
    outputPayloadToHeader: str.optional(),
    forwardOriginalToken: bool.optional(),
    outputClaimToHeaders: z.array(obj({ header: str, claim: str })).optional(),
    timeout: duration.optional(),
    spaceDelimitedClaims: strList.optional(),
  }),
  // Istio's validateJwtRule: `jwks` and `jwksUri` may both be set (the inline keys are used), and
  // `jwks: ""` is proto3's unset.
  (v, add) => {
    const problem = typeof v['jwks'] === 'string' && v['jwks'] !== '' ? jwksProblem(v['jwks']) : null;
    if (problem) add(['jwks'], 'OR1024', `${problem}; every token of this issuer would be refused`);
  },
);

export const requestAuthenticationSpec = withRules(
  obj({
    selector: labelSelector.optional(),
    targetRef: targetRef.optional(),
    targetRefs: z.array(targetRef).optional(),
    jwtRules: z.array(jwtRule).optional(),
  }),
  oneOf(['selector', 'targetRef', 'targetRefs']),
);
