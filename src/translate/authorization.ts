// AuthorizationPolicy → the inbound authorization filters of one workload, as Istio's builder emits them:
// CUSTOM (`rbac` marker + `ext_authz`) → `rbac` LOG (AUDIT) → `rbac` DENY → `rbac` ALLOW; the same
// order in network filters for TCP.
import type { AuthorizationPolicy, Gateway } from '../config/resource.ts';
import type { ExtensionProvider } from '../config/types/other.ts';
import type { AuthorizationAction, PolicyTargetReference } from '../config/types/security.ts';
import type { TypedAny } from '../xds/any.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { type RbacPolicy, translateRule } from './authorization-rule.ts';
import { translateExtAuthzProvider, translateNetworkExtAuthz } from './authorization-ext-authz.ts';
import { GATEWAY_NAME_LABEL, gatewaySelectsPod } from '../model/gateway-api/gateways.ts';
import { parseGoBool } from '../config/schema/parse-bool.ts';

export interface AuthorizationTarget {
  readonly workloadLabels: Record<string, string>;
  readonly namespace: string;
  readonly rootNamespace: string;
  readonly trustDomain: string;
  readonly trustDomainAliases?: readonly string[];
  /** The inbound port being built (informational; rules carry their own `ports`). */
  readonly port?: number;
  /** meshConfig.extensionProviders, for CUSTOM. */
  readonly extensionProviders?: readonly ExtensionProvider[];
  /**
   * The classic networking.istio.io Gateways this workload is an instance of (their selector matches its
   * labels: gatewaySelectsPod), which a `targetRef` may name; see classicGatewaysOf.
   */
  readonly classicGateways?: readonly ClassicGatewayRef[];
}

export interface ClassicGatewayRef {
  readonly namespace: string;
  readonly name: string;
}

/** The classic Gateways whose selector picks the workload (Istio's WorkloadPolicyMatcher.Gateways). */
export function classicGatewaysOf(gateways: readonly Gateway[], workload: { readonly namespace: string; readonly labels: Readonly<Record<string, string>> }): ClassicGatewayRef[] {
  return gateways.filter((g) => gatewaySelectsPod(g, workload)).map((g) => ({ namespace: g.metadata.namespace, name: g.metadata.name }));
}

export interface NamedFilter {
  name: string;
  typed_config: TypedAny;
}

export interface AuthorizationFilters {
  /** HTTP filters, in the order they go into the inbound HCM (before the router). */
  readonly http: NamedFilter[];
  /** Network filters for a TCP filter chain (before tcp_proxy). */
  readonly tcp: NamedFilter[];
  /** Problems the user should hear about (unknown provider, several CUSTOM providers). */
  readonly warnings: string[];
}

export const DRY_RUN_ANNOTATION = 'istio.io/dry-run';

/** Istio's isDryRun: the annotation read by strconv.ParseBool; a value it refuses (validation does too) is not dry-run. */
export function isDryRun(p: { readonly metadata: { readonly annotations: Record<string, string> } }): boolean {
  const v = p.metadata.annotations[DRY_RUN_ANNOTATION];
  return v !== undefined && parseGoBool(v) === true;
}

const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
const CLASSIC_GATEWAY_GROUP = 'networking.istio.io';

/** A Gateway API `Gateway` ref naming the workload's gateway, in the workload's namespace. */
function refSelects(ref: PolicyTargetReference, gatewayName: string, t: AuthorizationTarget): boolean {
  if (ref.namespace !== undefined && ref.namespace !== '' && ref.namespace !== t.namespace) return false;
  return ref.group === GATEWAY_API_GROUP && ref.kind === 'Gateway' && ref.name === gatewayName;
}

/** What selection reads from an AuthorizationPolicy or a RequestAuthentication. */
export interface SelectablePolicy {
  readonly metadata: { readonly namespace: string };
  readonly spec: {
    readonly selector?: { matchLabels?: Record<string, string> };
    readonly targetRef?: PolicyTargetReference;
    readonly targetRefs?: PolicyTargetReference[];
  };
}

/**
 * Istio's attachesToClassicGateway: a `networking.istio.io` `Gateway` ref naming one of the workload's
 * classic Gateways, the policy in that Gateway's namespace (the root namespace is no exception), and the
 * ref's namespace, if any, the same.
 */
function attachesToClassicGateway(refs: readonly PolicyTargetReference[], policyNamespace: string, t: AuthorizationTarget): boolean {
  const gateways = t.classicGateways ?? [];
  if (gateways.length === 0) return false;
  return refs.some(
    (r) =>
      r.group === CLASSIC_GATEWAY_GROUP &&
      r.kind === 'Gateway' &&
      gateways.some((g) => r.name === g.name && policyNamespace === g.namespace && (r.namespace === undefined || r.namespace === '' || r.namespace === g.namespace)),
  );
}

/**
 * Istio's WorkloadPolicyMatcher.ShouldAttachPolicy (pilot/pkg/model/policyattachment.go) for sidecars
 * and gateways. A targetRef to a classic `networking.istio.io` Gateway attaches to the workloads that
 * Gateway selects (attachesToClassicGateway), whatever else the workload is. Otherwise, without
 * targetRefs: a policy in the root namespace applies mesh-wide, else in its own namespace, narrowed by
 * `selector` labels. With targetRefs: only a workload labelled `gateway.networking.k8s.io/gateway-name`
 * takes it, through a `gateway.networking.k8s.io` `Gateway` ref naming that gateway, with the policy in
 * the workload's namespace (the root namespace is no exception) and the ref's namespace, if any, the
 * same. A `Service`/`ServiceEntry` ref attaches to waypoints only, which Outrigger does not have.
 */
export function policySelects(p: SelectablePolicy, t: AuthorizationTarget): boolean {
  const ns = p.metadata.namespace;
  const refs = p.spec.targetRefs?.length ? p.spec.targetRefs : p.spec.targetRef ? [p.spec.targetRef] : [];
  if (refs.length > 0) {
    if (attachesToClassicGateway(refs, ns, t)) return true;
    const gatewayName = t.workloadLabels[GATEWAY_NAME_LABEL];
    if (gatewayName === undefined || ns !== t.namespace) return false;
    return refs.some((r) => refSelects(r, gatewayName, t));
  }
  if (ns !== t.rootNamespace && ns !== t.namespace) return false;
  const labels = p.spec.selector?.matchLabels ?? {};
  return Object.entries(labels).every(([k, v]) => t.workloadLabels[k] === v);
}

/**
 * Istio's badCustomActionSuffix: CUSTOM policies whose provider cannot be served (unknown, or several on
 * one workload) are enforced as DENY rules, each CUSTOM rule renamed with this suffix.
 */
export const BAD_CUSTOM_SUFFIX = '-deny-due-to-bad-CUSTOM-action';

/** Istio's rbacPolicyMatchNever, which its builder gives a policy without rules. */
const MATCH_NEVER: RbacPolicy = { permissions: [{ not_rule: { any: true } }], principals: [{ not_id: { any: true } }] };

export function policyName(ns: string, name: string, i: number): string {
  return `ns[${ns}]-policy[${name}]-rule[${i}]`;
}

type Policies = Record<string, RbacPolicy>;
interface Bucket {
  enforced: Policies | null;
  shadow: Policies | null;
}

function addPolicy(bucket: Bucket, dryRun: boolean, policy: AuthorizationPolicy, forTcp: boolean, action: AuthorizationAction, t: AuthorizationTarget, prefix = ''): void {
  const key = dryRun ? 'shadow' : 'enforced';
  const rules = policy.spec.rules ?? [];
  const ctx = { namespace: policy.metadata.namespace, trustDomain: t.trustDomain, trustDomainAliases: t.trustDomainAliases ?? [], forTcp, action };
  rules.forEach((rule, i) => {
    const translated = translateRule(rule, ctx);
    if (!translated) return;
    const target = bucket[key] ?? {};
    bucket[key] = target;
    target[prefix + policyName(policy.metadata.namespace, policy.metadata.name, i)] = translated;
  });
}

function sortedPolicies(p: Policies): Policies {
  return Object.fromEntries(Object.entries(p).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function rbacConfig(bucket: Bucket, action: 'ALLOW' | 'DENY' | 'LOG', shadowPrefix: string, tcp: boolean): TypedAny | null {
  if (!bucket.enforced && !bucket.shadow) return null;
  const config: TypedAny = { '@type': tcp ? TypeUrl.NetworkRbac : TypeUrl.HttpRbac };
  if (bucket.enforced) config['rules'] = { action, policies: sortedPolicies(bucket.enforced) };
  if (bucket.shadow) {
    config['shadow_rules'] = { action, policies: sortedPolicies(bucket.shadow) };
    config['shadow_rules_stat_prefix'] = shadowPrefix;
  }
  if (tcp) config['stat_prefix'] = 'tcp.';
  return config;
}

function build(policies: readonly AuthorizationPolicy[], t: AuthorizationTarget, forTcp: boolean, warnings: string[]): NamedFilter[] {
  const deny: Bucket = { enforced: null, shadow: null };
  const allow: Bucket = { enforced: null, shadow: null };
  const audit: Bucket = { enforced: null, shadow: null };
  const custom: Bucket = { enforced: null, shadow: null };
  const customPolicies: AuthorizationPolicy[] = [];
  for (const p of policies) {
    const action = p.spec.action ?? 'ALLOW';
    const dryRun = isDryRun(p);
    if (action === 'CUSTOM') {
      // Validation refuses istio.io/dry-run on CUSTOM (Istio's checkDryRunAnnotation); one that reaches
      // translation anyway takes no part: no provider bookkeeping, no rules, no ext_authz.
      if (!dryRun) customPolicies.push(p);
    } else if (action === 'DENY') addPolicy(deny, dryRun, p, forTcp, 'DENY', t);
    else if (action === 'AUDIT') addPolicy(audit, dryRun, p, forTcp, 'AUDIT', t);
    else {
      addPolicy(allow, dryRun, p, forTcp, 'ALLOW', t);
      // An ALLOW policy whose rules were all dropped still makes the workload default-deny.
      if (!dryRun && !allow.enforced) allow.enforced = {};
    }
  }
  const out: NamedFilter[] = [];
  const name = forTcp ? 'envoy.filters.network.rbac' : 'envoy.filters.http.rbac';
  // Istio's getBadCustomDenyRules (builder.go buildHTTP/buildTCP, 1.20-1.24): the CUSTOM policies' rules,
  // built as for the marker (an HTTP-only value ignored on TCP, the rule kept), enforced as one DENY
  // filter in the CUSTOM filters' place, each named `istio-ext-authz-ns[NS]-policy[NAME]-rule[i]` plus
  // the suffix. What no CUSTOM rule matches still reaches DENY, ALLOW and the app (testdata
  // http/custom-bad-out.yaml). Emitted on TCP chains too, whatever the provider's kind: Istio's buildTCP
  // checks the provider before it skips an HTTP one.
  const failClosed = (): void => {
    const built: Bucket = { enforced: null, shadow: null };
    const policies: Policies = {};
    for (const p of customPolicies) {
      addPolicy(built, false, p, forTcp, 'CUSTOM', t, 'istio-ext-authz-');
      if ((p.spec.rules ?? []).length === 0) policies[`istio-ext-authz-${policyName(p.metadata.namespace, p.metadata.name, 0)}${BAD_CUSTOM_SUFFIX}`] = MATCH_NEVER;
    }
    for (const [key, rule] of Object.entries(built.enforced ?? {})) policies[key + BAD_CUSTOM_SUFFIX] = rule;
    out.push({ name, typed_config: rbacConfig({ enforced: policies, shadow: null }, 'DENY', '', forTcp)! });
  };
  // CUSTOM first, as Istio's custom builder's filters precede the others; then AUDIT, DENY, ALLOW.
  const providerNames = [...new Set(customPolicies.map((p) => String(p.spec.provider?.name)))].sort();
  if (providerNames.length > 1) {
    // Istio's buildHTTP/buildTCP: more than one provider on a workload (getExtAuthz: "only 1 provider can
    // be used per workload") cannot be served, so what the CUSTOM rules match is denied on both chains.
    if (!forTcp) warnings.push(`only one CUSTOM provider per workload, found ${providerNames.length}: ${providerNames.join(', ')} (policies ${customPolicies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).join(', ')}); requests and connections their rules match are denied`);
    failClosed();
  } else if (customPolicies.length > 0) {
    const providerName = providerNames[0]!;
    const found = t.extensionProviders?.find((e) => e.name === providerName && (e.envoyExtAuthzHttp || e.envoyExtAuthzGrpc));
    if (!found) {
      // As Istio: a CUSTOM policy whose provider is unknown denies what its rules match.
      if (!forTcp) for (const p of customPolicies) warnings.push(`${p.metadata.namespace}/${p.metadata.name}: extension provider ${providerName} not found (or not envoyExtAuthzHttp/envoyExtAuthzGrpc); requests and connections its rules match are denied`);
      failClosed();
    } else if (!forTcp || found.envoyExtAuthzGrpc) {
      // As Istio: an HTTP provider does not apply to TCP.
      if (!forTcp && found.envoyExtAuthzGrpc?.includeRequestBodyInCheck) {
        for (const p of customPolicies) warnings.push(`${p.metadata.namespace}/${p.metadata.name}: includeRequestBodyInCheck of ${found.name} is not supported; checks carry the request head only`);
      }
      // The marker RBAC's shadow rules hold the CUSTOM rules, built and emitted with action DENY as Istio's
      // custom builder does ("so that a HTTP rule is properly handled when generating for TCP filter
      // chain": an HTTP-only field on a TCP port is ignored and the rule kept, so connections still go to
      // the provider). A request the rules match reads shadow_engine_result "denied" and carries the
      // matched policy's id, which is what triggers ext_authz.
      for (const p of customPolicies) addPolicy(custom, true, p, forTcp, 'CUSTOM', t, 'istio-ext-authz-');
      if (custom.shadow) {
        out.push({ name, typed_config: rbacConfig(custom, 'DENY', 'istio_ext_authz_', forTcp)! });
        const network = forTcp ? translateNetworkExtAuthz(found) : null;
        if (network) out.push({ name: 'envoy.filters.network.ext_authz', typed_config: network });
        else out.push({ name: 'envoy.filters.http.ext_authz', typed_config: translateExtAuthzProvider(found) });
      }
    }
  }
  for (const [bucket, action, prefix] of [
    [audit, 'LOG', 'istio_dry_run_audit_'],
    [deny, 'DENY', 'istio_dry_run_deny_'],
    [allow, 'ALLOW', 'istio_dry_run_allow_'],
  ] as const) {
    const config = rbacConfig(bucket, action, prefix, forTcp);
    if (config) out.push({ name, typed_config: config });
  }
  return out;
}

/** Pure: the inbound authorization filters for one workload (HTTP chain and TCP chain). */
export function translateAuthorization(policies: readonly AuthorizationPolicy[], target: AuthorizationTarget): AuthorizationFilters {
  const selected = policies
    .filter((p) => policySelects(p, target))
    .sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  const warnings: string[] = [];
  const http = build(selected, target, false, warnings);
  const tcp = build(selected, target, true, []);
  return { http, tcp, warnings };
}
