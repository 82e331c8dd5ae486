// One AuthorizationPolicy rule → one Envoy RBAC Policy, field by field as Istio's authz model builds
// it (pilot/pkg/security/authz/model). A value that cannot be translated (an HTTP-only field on TCP, a
// CIDR or port that does not parse) is handled as Istio's checkError: ALLOW drops the whole rule, every
// other action (DENY, AUDIT, CUSTOM) ignores that value, so the rule only gets wider. An unknown `when`
// key drops the rule for every action (Istio's model.New: "unknown attribute"). Nothing the proxy would
// refuse is ever emitted: a refused listener keeps its old config, without the policy.
import { ENVOY_FILTER_KEY } from '../config/schema/authz-keys.ts';
import { parseIpOrCidr } from '../config/schema/ip.ts';
import type { Condition, Operation, Rule, Source } from '../config/types/security.ts';
import { principalsWithAliases } from './trust-domain-bundle.ts';

type Json = Record<string, unknown>;
export type RbacPolicy = { permissions: Json[]; principals: Json[] };

export interface RuleContext {
  readonly namespace: string;
  readonly trustDomain: string;
  /** meshConfig.trustDomainAliases: principals in the mesh's domain match in these too. */
  readonly trustDomainAliases?: readonly string[];
  readonly forTcp: boolean;
  readonly action: 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';
}

const ANY = { any: true };
export const AUTHN_METADATA = 'istio_authn';

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

type Wildcard = { readonly kind: 'any' } | { readonly kind: 'suffix' | 'prefix' | 'exact'; readonly value: string };

/**
 * Istio's value syntax, for every matcher but namespaces: `*` any, `*x` suffix, `x*` prefix, else exact.
 * A leading `*` is checked first (StringMatcherWithPrefix, HostMatcher, HeaderMatcher), so `*x*` is the
 * suffix `x*`, not the prefix `*x`.
 */
function wildcard(v: string): Wildcard {
  if (v === '*') return { kind: 'any' };
  if (v.startsWith('*')) return { kind: 'suffix', value: v.slice(1) };
  if (v.endsWith('*')) return { kind: 'prefix', value: v.slice(0, -1) };
  return { kind: 'exact', value: v };
}

/** Istio's StringMatcher. */
export function stringMatch(v: string, ignoreCase = false): Json {
  const ic = ignoreCase ? { ignore_case: true } : {};
  const w = wildcard(v);
  if (w.kind === 'any') return { safe_regex: { regex: '.+' } };
  return { [w.kind]: w.value, ...ic };
}

function principalMatch(v: string): Json {
  const w = wildcard(v);
  if (w.kind === 'any') return { safe_regex: { regex: '.+' } };
  if (w.kind === 'suffix') return { suffix: w.value };
  return { [w.kind]: `spiffe://${w.value}` };
}

/** As Istio, every `*` in a namespace is a wildcard (`team-*-dev`), kept within the one path segment. */
function namespaceMatch(v: string): Json {
  const body = v === '*' ? '[^/]+' : escapeRegex(v).replaceAll('\\*', '[^/]*');
  return { safe_regex: { regex: `.*/ns/${body}/.*` } };
}

/** Istio's `serviceAccountRegex`: the account in any trust domain, with optional extra segments. */
function serviceAccountPrincipal(v: string, ctx: RuleContext): Json {
  const slash = v.indexOf('/');
  const [ns, sa] = slash === -1 ? [ctx.namespace, v] : [v.slice(0, slash), v.slice(slash + 1)];
  return { authenticated: { principal_name: { safe_regex: { regex: `spiffe://.+/ns/${escapeRegex(ns)}/(.+/|)sa/${escapeRegex(sa)}(/.+)?` } } } };
}

/** A value Istio's generator cannot translate (its error, which checkError weighs by action). */
class BadValue extends Error {
  readonly code = 'AUTHZ_BAD_VALUE';
}

/**
 * Istio's AddrStrToCidrRange (Go netip): an address (its zone stripped, as netip.PrefixFrom does), or an
 * address with a prefix length in range; read by the parser validation uses.
 */
function cidr(v: string): Json {
  const parsed = parseIpOrCidr(v);
  if ('problem' in parsed) throw new BadValue(parsed.problem);
  return { address_prefix: parsed.address, prefix_len: { value: parsed.prefixLen } };
}

/** Istio's convertToPort: a decimal number up to 65535. */
function port(v: string): number {
  if (!/^[0-9]+$/.test(v) || Number(v) > 65535) throw new BadValue(`invalid port ${JSON.stringify(v)}`);
  return Number(v);
}

/**
 * Istio's HeaderMatcher (matcher/header.go), for `request.headers[...]` and `methods`: `*` is
 * present_match, so a header sent with an empty value matches too; then `*x` suffix, `x*` prefix, exact.
 */
function headerMatch(name: string, v: string): Json {
  const w = wildcard(v);
  if (w.kind === 'any') return { header: { name, present_match: true } };
  return { header: { name, string_match: { [w.kind]: w.value } } };
}

/** `{*}` one segment, `{**}` any number of segments (Envoy's uri_template character classes). */
function pathTemplateRegex(v: string): string {
  return v
    .split(/(\{\*\*\}|\{\*\})/)
    .map((part) =>
      part === '{**}' ? "[a-zA-Z0-9\\-._~%!$&'()+,;:@=/]*" : part === '{*}' ? "[a-zA-Z0-9\\-._~%!$&'()+,;:@=]+" : escapeRegex(part),
    )
    .join('');
}

function pathMatch(v: string): Json {
  if (v.includes('{*}') || v.includes('{**}')) return { url_path: { path: { safe_regex: { regex: pathTemplateRegex(v) } } } };
  return { url_path: { path: stringMatch(v) } };
}

/**
 * Istio's HostMatcher: hosts compare case-insensitively, a leading `*` first; a host without a port also
 * matches it with any port.
 */
function hostMatch(v: string): Json {
  const header = (m: Json) => ({ header: { name: ':authority', string_match: m } });
  const w = wildcard(v);
  if (w.kind === 'any') return header({ safe_regex: { regex: '.+' } });
  if (w.kind === 'prefix') return header({ prefix: w.value, ignore_case: true });
  const hasPort = /:\d+$/.test(v) || v.endsWith(']');
  if (w.kind === 'suffix') {
    const suffix = w.value.toLowerCase();
    if (hasPort) return header({ suffix, ignore_case: true });
    return { or_rules: { rules: [header({ suffix, ignore_case: true }), header({ safe_regex: { regex: `(?i).*${escapeRegex(suffix)}:[0-9]+` } })] } };
  }
  const host = w.value.toLowerCase().replace(/\.$/, '');
  if (hasPort) return header({ exact: host, ignore_case: true });
  return { or_rules: { rules: [header({ exact: host, ignore_case: true }), header({ prefix: `${host}:`, ignore_case: true })] } };
}

function metadata(filter: string, path: string[], value: Json): Json {
  return { metadata: { filter, path: path.map((key) => ({ key })), value } };
}

function authnMetadata(key: string, v: string, list: boolean, extra: string[] = []): Json {
  const s = { string_match: stringMatch(v) };
  return metadata(AUTHN_METADATA, [key, ...extra], list ? { list_match: { one_of: s } } : s);
}

type Side = 'permission' | 'principal';
interface Field {
  side: Side;
  http: boolean;
  leaf: (v: string) => Json;
  /** The values (and notValues) as matched, when they are not as written: principals with trust domain aliases. */
  expand?: (values: readonly string[]) => string[];
}

const orOf = (side: Side, items: Json[]): Json =>
  items.length === 1 ? items[0]! : side === 'permission' ? { or_rules: { rules: items } } : { or_ids: { ids: items } };
const andOf = (side: Side, items: Json[]): Json =>
  items.length === 0 ? ANY : items.length === 1 ? items[0]! : side === 'permission' ? { and_rules: { rules: items } } : { and_ids: { ids: items } };
const notOf = (side: Side, item: Json): Json => (side === 'permission' ? { not_rule: item } : { not_id: item });

function sourceFields(ctx: RuleContext): Record<string, Field> {
  const p = (leaf: (v: string) => Json, http = false): Field => ({ side: 'principal', http, leaf });
  const bundle = [ctx.trustDomain, ...(ctx.trustDomainAliases ?? [])];
  return {
    principals: { ...p((v) => ({ authenticated: { principal_name: principalMatch(v) } })), expand: (vs) => principalsWithAliases(vs, bundle) },
    requestPrincipals: p((v) => authnMetadata('request.auth.principal', v, false), true),
    namespaces: p((v) => ({ authenticated: { principal_name: namespaceMatch(v) } })),
    serviceAccounts: p((v) => serviceAccountPrincipal(v, ctx)),
    ipBlocks: p((v) => ({ direct_remote_ip: cidr(v) })),
    remoteIpBlocks: p((v) => ({ remote_ip: cidr(v) })),
  };
}

const OPERATION_FIELDS: Record<string, Field> = {
  hosts: { side: 'permission', http: true, leaf: hostMatch },
  ports: { side: 'permission', http: false, leaf: (v) => ({ destination_port: port(v) }) },
  methods: { side: 'permission', http: true, leaf: (v) => headerMatch(':method', v) },
  paths: { side: 'permission', http: true, leaf: pathMatch },
};

/** A known key whose bracketed part does not parse: every value is an error of Istio's generator. */
function badKey(key: string): (v: string) => Json {
  return () => {
    throw new BadValue(`malformed key ${key}`);
  };
}

/** A `when` key → its field; null for an unknown key. */
function conditionField(key: string, ctx: RuleContext): Field | null {
  const p = (leaf: (v: string) => Json, http = false): Field => ({ side: 'principal', http, leaf });
  // Istio's model.New picks the generator by prefix for these three; their generators parse the rest.
  if (key.startsWith('request.headers')) {
    const header = /^request\.headers\[(.+)\]$/.exec(key);
    return p(header ? (v) => headerMatch(header[1]!.toLowerCase(), v) : badKey(key), true);
  }
  if (key.startsWith('request.auth.claims')) {
    const claim = /^request\.auth\.claims((?:\[[^\]]+\])+)$/.exec(key);
    if (!claim) return p(badKey(key), true);
    const path = [...claim[1]!.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]!);
    return p((v) => authnMetadata('request.auth.claims', v, true, path), true);
  }
  if (key.startsWith('experimental.envoy.filters.')) {
    const filters = ENVOY_FILTER_KEY.exec(key);
    // Not HTTP-only: Istio's envoyFilterGenerator ignores forTCP, so a TCP chain keeps the matcher and
    // reads the connection's dynamic metadata (absent there, it does not match).
    if (!filters) return { side: 'permission', http: false, leaf: badKey(key) };
    // One metadata key, the rest after the first `[` (`F[a][b]` reads the key `a][b`), as Istio's SplitN.
    const path = [filters[2]!];
    // As Istio, a value written `[v]` matches one element of a list.
    const value = (v: string): Json => (v.length > 2 && v.startsWith('[') && v.endsWith(']') ? { list_match: { one_of: { string_match: stringMatch(v.slice(1, -1)) } } } : { string_match: stringMatch(v) });
    return { side: 'permission', http: false, leaf: (v) => metadata(`envoy.filters.${filters[1]!}`, path, value(v)) };
  }
  const fields = sourceFields(ctx);
  switch (key) {
    case 'source.ip':
      return fields['ipBlocks']!;
    case 'remote.ip':
      return fields['remoteIpBlocks']!;
    case 'source.namespace':
      return fields['namespaces']!;
    case 'source.principal':
      return fields['principals']!;
    case 'source.serviceAccount':
      return fields['serviceAccounts']!;
    case 'request.auth.principal':
      return fields['requestPrincipals']!;
    case 'request.auth.audiences':
      return p((v) => authnMetadata('request.auth.audiences', v, true), true);
    case 'request.auth.presenter':
      return p((v) => authnMetadata('request.auth.presenter', v, false), true);
    case 'destination.ip':
      return { side: 'permission', http: false, leaf: (v) => ({ destination_ip: cidr(v) }) };
    case 'destination.port':
      return OPERATION_FIELDS['ports']!;
    case 'connection.sni':
      return { side: 'permission', http: false, leaf: (v) => ({ requested_server_name: stringMatch(v) }) };
    default:
      return null;
  }
}

/** Signals that the rule cannot apply (an ALLOW rule with a value it cannot translate, an unknown key): drop it. */
class DropRule extends Error {
  readonly code = 'AUTHZ_RULE_DROPPED';
}

/**
 * Istio's checkError: a value its generator refuses (HTTP-only on TCP, malformed) drops an ALLOW rule
 * ("a smaller allow policy"); DENY, AUDIT and CUSTOM ignore the value ("a wider deny or audit policy").
 */
function leaves(f: Field, values: readonly string[], ctx: RuleContext): Json[] {
  const out: Json[] = [];
  for (const v of values) {
    try {
      if (f.http && ctx.forTcp) throw new BadValue('HTTP-only field on a TCP port');
      out.push(f.leaf(v));
    } catch (err) {
      if (!(err instanceof BadValue)) throw err;
      if (ctx.action === 'ALLOW') throw new DropRule(err.message);
    }
  }
  return out;
}

function valuesAndNot(f: Field, values: string[] | undefined, notValues: string[] | undefined, ctx: RuleContext): Json[] {
  const out: Json[] = [];
  const expand = f.expand ?? ((vs: readonly string[]) => vs);
  const matched = values?.length ? leaves(f, expand(values), ctx) : [];
  if (matched.length > 0) out.push(orOf(f.side, matched));
  const excluded = notValues?.length ? leaves(f, expand(notValues), ctx) : [];
  if (excluded.length > 0) out.push(notOf(f.side, orOf(f.side, excluded)));
  return out;
}

function notKey(k: string): string {
  return `not${k[0]!.toUpperCase()}${k.slice(1)}`;
}

function block(side: Side, fields: Record<string, Field>, obj: Source | Operation, ctx: RuleContext): Json[] {
  const record = obj as Record<string, string[] | undefined>;
  const out: Json[] = [];
  for (const [key, f] of Object.entries(fields)) out.push(...valuesAndNot(f, record[key], record[notKey(key)], ctx));
  void side;
  return out;
}

/** Translates one rule; null when it is dropped (an ALLOW rule with an untranslatable value, or an unknown `when` key). */
export function translateRule(rule: Rule, ctx: RuleContext): RbacPolicy | null {
  try {
    const permission: Json[] = [];
    const principal: Json[] = [];
    if (rule.to?.length) {
      permission.push(orOf('permission', rule.to.map((t) => andOf('permission', block('permission', OPERATION_FIELDS, t.operation ?? {}, ctx)))));
    }
    if (rule.from?.length) {
      const fields = sourceFields(ctx);
      principal.push(orOf('principal', rule.from.map((f) => andOf('principal', block('principal', fields, f.source ?? {}, ctx)))));
    }
    for (const c of rule.when ?? []) {
      const f = conditionField(c.key, ctx);
      // Istio's model.New fails on an unknown attribute and the builder skips the rule, whatever the action.
      if (f === null) throw new DropRule(`unknown condition key ${c.key}`);
      (f.side === 'permission' ? permission : principal).push(...valuesAndNot(f, c.values, c.notValues, ctx));
    }
    return { permissions: [andOf('permission', permission)], principals: [andOf('principal', principal)] };
  } catch (err) {
    if (err instanceof DropRule) return null;
    throw err;
  }
}

export type { Condition };
