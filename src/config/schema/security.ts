// PeerAuthentication, AuthorizationPolicy, RequestAuthentication (security.istio.io v1beta1/v1).
import * as z from 'zod';
import { bool, duration, labelSelector, obj, oneOf, str, strList, targetRef, withRules } from './common.ts';
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

const source = obj({
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
});

const portString = z.string().superRefine((p, ctx) => {
  const n = Number(p);
  if (!/^\d+$/.test(p) || n < 1 || n > 65535) ctx.addIssue({ code: 'custom', message: `port "${p}" must be a number between 1 and 65535`, params: { code: 'OR1028' } });
});

/** A path: exact, `prefix*`, `*suffix`, `*`, or an Istio path template (`{*}`, `{**}`). */
const pathString = z.string().superRefine((p, ctx) => {
  const problem = pathTemplateProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: `invalid path "${p}": ${problem}`, params: { code: 'OR1024' } });
});

const operation = obj({
  hosts: strList.optional(),
  notHosts: strList.optional(),
  ports: z.array(portString).optional(),
  notPorts: z.array(portString).optional(),
  methods: strList.optional(),
  notMethods: strList.optional(),
  paths: z.array(pathString).optional(),
  notPaths: z.array(pathString).optional(),
});

const condition = withRules(obj({ key: z.string().min(1), values: strList.optional(), notValues: strList.optional() }), (v, add) => {
  if (v['values'] === undefined && v['notValues'] === undefined) add([], 'OR1022', 'a condition needs values or notValues');
});

const rule = obj({
  from: z.array(obj({ source })).optional(),
  to: z.array(obj({ operation })).optional(),
  when: z.array(condition).optional(),
});

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
    if (v['action'] === 'CUSTOM' && v['provider'] === undefined) add(['action'], 'OR1022', 'action CUSTOM needs a provider');
    if (v['provider'] !== undefined && v['action'] !== 'CUSTOM') add(['provider'], 'OR1029', 'provider is only allowed with action CUSTOM');
  },
);

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
  oneOf(['jwksUri', 'jwks']),
  (v, add) => {
    const problem = typeof v['jwks'] === 'string' ? jwksProblem(v['jwks']) : null;
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
