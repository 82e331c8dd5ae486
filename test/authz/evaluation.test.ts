// Istio's evaluation semantics end to end through translation and the proxy's filters: action order,
// default deny, empty spec vs empty rule, selection, dry run, audit, TCP field dropping, receipts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRbacFilterFactory } from '../../src/proxy/filters/rbac/http-filter.ts';
import type { AuthorizationPolicy } from '../../src/config/resource.ts';
import { runNetworkAuthz } from '../../src/proxy/filters/network-authz.ts';
import { compileNetworkRbac } from '../../src/proxy/filters/rbac/network-filter.ts';
import { FilterConfigError, type FilterVerdict } from '../../src/proxy/http/filter.ts';
import { policySelects, translateAuthorization } from '../../src/translate/authorization.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { connection, context, decideHttp, decideTcp, policy, roundTrip, TARGET } from './simulate.ts';

const SLEEP = { tls: true, peerPrincipal: 'spiffe://cluster.local/ns/foo/sa/sleep' };

test('no policy allows; ALLOW with empty spec denies everything; one empty rule allows everything', () => {
  assert.equal(decideHttp([], {}).status, 200);
  assert.equal(decideHttp([policy('allow-nothing', 'foo', {})], {}).status, 403);
  assert.equal(decideHttp([policy('allow-all', 'foo', { rules: [{}] })], {}).status, 200);
  assert.equal(decideHttp([policy('deny-nothing', 'foo', { action: 'DENY' })], {}).status, 200);
  assert.equal(decideHttp([policy('deny-all', 'foo', { action: 'DENY', rules: [{}] })], {}).status, 403);
});

test('DENY wins over ALLOW; any ALLOW makes unmatched requests denied', () => {
  const allowGet = policy('allow-get', 'foo', { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] });
  const denyAdmin = policy('deny-admin', 'foo', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] });
  assert.equal(decideHttp([allowGet, denyAdmin], { path: '/x' }).status, 200);
  assert.equal(decideHttp([allowGet, denyAdmin], { path: '/admin' }).status, 403);
  assert.equal(decideHttp([allowGet, denyAdmin], { method: 'POST' }).status, 403);
});

test('selection: selector, other namespace, root namespace, targetRefs', () => {
  const deny = { action: 'DENY' as const, rules: [{}] };
  assert.equal(decideHttp([policy('p', 'foo', { ...deny, selector: { matchLabels: { app: 'httpbin' } } })], {}).status, 403);
  assert.equal(decideHttp([policy('p', 'foo', { ...deny, selector: { matchLabels: { app: 'other' } } })], {}).status, 200);
  assert.equal(decideHttp([policy('p', 'bar', deny)], {}).status, 200);
  assert.equal(decideHttp([policy('p', 'istio-system', deny)], {}).status, 403);
  assert.equal(decideHttp([policy('p', 'istio-system', { ...deny, selector: { matchLabels: { version: 'v2' } } })], {}).status, 200);
  const gw = policy('p', 'foo', { ...deny, targetRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'edge' } });
  const edge = { ...TARGET, workloadLabels: { 'gateway.networking.k8s.io/gateway-name': 'edge' } };
  assert.equal(decideHttp([gw], {}, edge).status, 403);
  assert.equal(decideHttp([gw], {}).status, 200);
});

// Istio's WorkloadPolicyMatcher.ShouldAttachPolicy (pilot/pkg/model/policyattachment.go).
test('targetRefs attach as Istio does: only to a Gateway API gateway, by its name, in its namespace', () => {
  const deny = { action: 'DENY' as const, rules: [{}] };
  const gwRef = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'edge' };
  const edge = (namespace: string) => ({ ...TARGET, namespace, workloadLabels: { 'gateway.networking.k8s.io/gateway-name': 'edge' } });
  // A sidecar behind Service httpbin ignores a policy whose targetRef names that Service (waypoints only).
  const svc = policy('allow-get', 'foo', { targetRefs: [{ group: '', kind: 'Service', name: 'httpbin' }], rules: [{ to: [{ operation: { methods: ['GET'] } }] }] });
  const sidecar = TARGET;
  assert.equal(policySelects(svc, sidecar), false);
  assert.equal(decideHttp([svc], { method: 'POST' }, sidecar).status, 200);
  // A classic gateway (label istio=..., no gateway-name label) ignores every targetRef policy.
  const classic = { ...TARGET, namespace: 'istio-system', workloadLabels: { istio: 'ingressgateway', app: 'istio-ingressgateway' } };
  assert.equal(policySelects(policy('p', 'istio-system', { ...deny, targetRef: { ...gwRef, name: 'ingressgateway' } }), classic), false);
  // The root namespace is no exception: the policy must be in the gateway's namespace.
  assert.equal(policySelects(policy('p', 'istio-system', { ...deny, targetRef: gwRef }), edge('team-a')), false);
  assert.equal(policySelects(policy('p', 'istio-system', { ...deny, targetRef: { ...gwRef, namespace: 'team-a' } }), edge('team-a')), false);
  assert.equal(policySelects(policy('p', 'team-a', { ...deny, targetRef: gwRef }), edge('team-a')), true);
  assert.equal(policySelects(policy('p', 'team-a', { ...deny, targetRef: { ...gwRef, namespace: 'team-a' } }), edge('team-a')), true);
  assert.equal(policySelects(policy('p', 'team-a', { ...deny, targetRef: { ...gwRef, namespace: 'team-b' } }), edge('team-a')), false);
  // Group and kind must be Gateway API's Gateway; the name must be the workload's gateway.
  assert.equal(policySelects(policy('p', 'team-a', { ...deny, targetRef: { kind: 'Gateway', name: 'edge' } }), edge('team-a')), false);
  assert.equal(policySelects(policy('p', 'team-a', { ...deny, targetRef: { ...gwRef, name: 'other' } }), edge('team-a')), false);
  assert.equal(policySelects(policy('p', 'team-a', { ...deny, targetRefs: [{ ...gwRef, name: 'other' }, gwRef] }), edge('team-a')), true);
  // Without targetRefs a gateway is selected by labels like any workload.
  assert.equal(policySelects(policy('p', 'team-a', deny), edge('team-a')), true);
});

// Istio's attachesToClassicGateway (policyattachment.go): a networking.istio.io Gateway ref attaches to the
// workloads that Gateway selects, the policy in the Gateway's namespace (the root namespace included).
test('targetRefs to a classic Gateway attach to the workloads it selects, in its namespace', () => {
  const deny = { action: 'DENY' as const, rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] };
  const ref = { group: 'networking.istio.io', kind: 'Gateway', name: 'public-gateway' };
  const ingress = { ...TARGET, namespace: 'istio-system', rootNamespace: 'istio-system', workloadLabels: { istio: 'ingressgateway' }, classicGateways: [{ namespace: 'istio-system', name: 'public-gateway' }] };
  const p = policy('block-admin', 'istio-system', { ...deny, targetRefs: [ref] });
  assert.equal(policySelects(p, ingress), true);
  assert.equal(decideHttp([p], { path: '/admin/users' }, ingress).status, 403);
  assert.equal(decideHttp([p], { path: '/public' }, ingress).status, 200);
  assert.equal(policySelects(policy('p', 'istio-system', { ...deny, targetRef: { ...ref, namespace: 'istio-system' } }), ingress), true);
  // The ref's namespace, the policy's namespace, the group, the kind and the name must all fit.
  assert.equal(policySelects(policy('p', 'istio-system', { ...deny, targetRef: { ...ref, namespace: 'other' } }), ingress), false);
  assert.equal(policySelects(policy('p', 'other', { ...deny, targetRef: ref }), { ...ingress, namespace: 'other' }), false);
  assert.equal(policySelects(policy('p', 'istio-system', { ...deny, targetRef: { ...ref, group: 'gateway.networking.k8s.io' } }), ingress), false);
  assert.equal(policySelects(policy('p', 'istio-system', { ...deny, targetRef: { ...ref, name: 'other' } }), ingress), false);
  // A Gateway in another namespace than the workload: the policy goes with the Gateway's namespace.
  const crossNs = { ...TARGET, namespace: 'ingress', workloadLabels: { istio: 'ingressgateway' }, classicGateways: [{ namespace: 'team-a', name: 'public-gateway' }] };
  assert.equal(policySelects(policy('p', 'team-a', { ...deny, targetRef: ref }), crossNs), true);
  assert.equal(policySelects(policy('p', 'ingress', { ...deny, targetRef: ref }), crossNs), false);
  // A workload no classic Gateway selects ignores it.
  assert.equal(policySelects(p, { ...ingress, classicGateways: [] }), false);
});

test('plaintext callers never satisfy principal- or namespace-based ALLOW policies', () => {
  for (const source of [{ principals: ['*'] }, { namespaces: ['foo'] }, { serviceAccounts: ['foo/sleep'] }]) {
    const p = [policy('allow-mesh', 'foo', { rules: [{ from: [{ source }] }] })];
    assert.equal(decideHttp(p, {}).status, 403, JSON.stringify(source));
    assert.equal(decideHttp(p, { connection: SLEEP }).status, 200, JSON.stringify(source));
    assert.equal(decideTcp(p, {}), false, `tcp ${JSON.stringify(source)}`);
    assert.equal(decideTcp(p, SLEEP), true, `tcp ${JSON.stringify(source)}`);
  }
  const requireMtls = [policy('require-mtls', 'foo', { action: 'DENY', rules: [{ from: [{ source: { notPrincipals: ['*'] } }] }] })];
  assert.equal(decideHttp(requireMtls, {}).status, 403);
  assert.equal(decideHttp(requireMtls, { connection: SLEEP }).status, 200);
});

test('TCP: ALLOW rules with HTTP-only fields are dropped; DENY keeps the TCP part of the rule', () => {
  const allowGet = policy('allow-get', 'foo', { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] });
  assert.equal(decideTcp([allowGet]), false);
  const denyGet = policy('deny-get', 'foo', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] });
  assert.equal(decideTcp([denyGet]), false);
  const denyPortGet = policy('deny', 'foo', { action: 'DENY', rules: [{ to: [{ operation: { ports: ['9000'], methods: ['GET'] } }] }] });
  assert.equal(decideTcp([denyPortGet], { localPort: 8000 }), true);
  assert.equal(decideTcp([denyPortGet], { localPort: 9000 }), false);
  const allowPort = policy('allow-port', 'foo', { rules: [{ to: [{ operation: { ports: ['8000'] } }] }] });
  assert.equal(decideTcp([allowPort], { localPort: 8000 }), true);
  assert.equal(decideTcp([allowPort], { localPort: 9000 }), false);
});

// Istio's checkError (authz/model/model.go) errs only for ALLOW: AUDIT, like DENY, ignores the field.
test('TCP: an AUDIT rule with HTTP-only fields keeps its TCP part and audits those connections', () => {
  const audit = policy('audit-db', 'foo', { action: 'AUDIT', rules: [{ to: [{ operation: { ports: ['5432'], paths: ['/x'] } }] }] });
  const logged = (localPort: number) =>
    translateAuthorization([audit], TARGET).tcp.some((f) => compileNetworkRbac(roundTrip(f.typed_config)).check(connection({ localPort })).logged);
  assert.equal(logged(5432), true);
  assert.equal(logged(8000), false);
  assert.equal(decideTcp([audit], { localPort: 5432 }), true, 'AUDIT never denies');
  // The chain's outcome carries the mark (Envoy: envoy.common access_log_hint), also on a connection a
  // later DENY refuses.
  const outcome = (policies: AuthorizationPolicy[], localPort: number) =>
    runNetworkAuthz(
      translateAuthorization(policies, TARGET).tcp.map((f) => ({ kind: 'rbac' as const, rbac: compileNetworkRbac(roundTrip(f.typed_config)) })),
      connection({ localPort }),
      (() => {
        throw new Error('no dial');
      }) as never,
    );
  assert.deepEqual(outcome([audit], 5432), { allowed: true, details: '', accessLogHint: true });
  assert.deepEqual(outcome([audit], 8000), { allowed: true, details: '' });
  const deny = policy('deny-db', 'foo', { action: 'DENY', rules: [{ to: [{ operation: { ports: ['5432'] } }] }] });
  const denied = outcome([audit, deny], 5432) as { allowed: boolean; accessLogHint?: boolean };
  assert.equal(denied.allowed, false);
  assert.equal(denied.accessLogHint, true);
});

// Istio's envoyFilterGenerator ignores forTCP: the metadata matcher stays on the TCP chain, where a
// connection without that dynamic metadata does not match it.
test('TCP: experimental.envoy.filters.* is not HTTP-only; the rule is kept and evaluated on the connection', () => {
  const when = [{ key: 'experimental.envoy.filters.network.mysql_proxy[db.table]', values: ['[update]'] }];
  const allow = policy('allow-meta', 'foo', { rules: [{ when }] });
  const rules = translateAuthorization([allow], TARGET).tcp[0]!.typed_config['rules'] as { policies: Record<string, unknown> };
  assert.deepEqual(Object.keys(rules.policies), ['ns[foo]-policy[allow-meta]-rule[0]']);
  assert.equal(decideTcp([allow]), false, 'absent metadata does not match the ALLOW rule');
  const deny = policy('deny-meta', 'foo', { action: 'DENY', rules: [{ when }] });
  assert.equal(decideTcp([deny]), true, 'absent metadata does not match the DENY rule (it is not widened to deny all)');
});

// Istio's builder.go emits CUSTOM, then AUDIT, DENY and ALLOW, so a request a DENY policy refuses is still audited.
test('filter order is CUSTOM, AUDIT, DENY, ALLOW: a denied request still gets the audit hint', () => {
  const audit = policy('audit-all', 'foo', { action: 'AUDIT', rules: [{}] });
  const deny = policy('deny-admin', 'foo', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] });
  const allow = policy('allow-all', 'foo', { rules: [{}] });
  const custom = policy('ext', 'foo', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [{}] });
  const providers = [{ name: 'opa', envoyExtAuthzGrpc: { service: 'opa.foo.svc.cluster.local', port: 9191 } }];
  const out = translateAuthorization([allow, deny, audit, custom], { ...TARGET, extensionProviders: providers });
  const actions = (filters: { name: string; typed_config: Record<string, unknown> }[]) =>
    filters.map((f) => (f.name.endsWith('ext_authz') ? 'EXT_AUTHZ' : ((f.typed_config['rules'] as { action?: string } | undefined)?.action ?? 'MARKER')));
  assert.deepEqual(actions(out.http), ['MARKER', 'EXT_AUTHZ', 'LOG', 'DENY', 'ALLOW']);
  assert.deepEqual(actions(out.tcp), ['MARKER', 'EXT_AUTHZ', 'LOG', 'DENY', 'ALLOW']);
  const { status, ctx } = decideHttp([audit, deny], { path: '/admin' });
  assert.equal(status, 403);
  assert.deepEqual(ctx.info.dynamicMetadata.get('envoy.common'), { access_log_hint: true });
});

test('dry run: evaluated into shadow metadata, never enforced', () => {
  const dry = policy('dry', 'foo', { action: 'DENY', rules: [{}] }, { 'istio.io/dry-run': 'true' });
  const { status, ctx } = decideHttp([dry], {});
  assert.equal(status, 200);
  assert.deepEqual(ctx.info.dynamicMetadata.get('envoy.filters.http.rbac'), {
    istio_dry_run_deny_shadow_effective_policy_id: 'ns[foo]-policy[dry]-rule[0]',
    istio_dry_run_deny_shadow_engine_result: 'denied',
  });
  const dryAllow = policy('dry-allow', 'foo', {}, { 'istio.io/dry-run': 'true' });
  assert.equal(decideHttp([dryAllow], {}).status, 200, 'a dry-run ALLOW does not make the workload default-deny');
});

test('AUDIT never denies and marks matching requests for the access log', () => {
  const audit = policy('audit', 'foo', { action: 'AUDIT', rules: [{ to: [{ operation: { paths: ['/x'] } }] }] });
  const { status, ctx } = decideHttp([audit], { path: '/x' });
  assert.equal(status, 200);
  assert.deepEqual(ctx.info.dynamicMetadata.get('envoy.common'), { access_log_hint: true });
  // Envoy's handleAction (LOG) writes `matched` on every request the engine sees: false where no rule matched.
  assert.deepEqual(decideHttp([audit], { path: '/y' }).ctx.info.dynamicMetadata.get('envoy.common'), { access_log_hint: false });
});

test('CUSTOM: shadow marker RBAC then ext_authz; an unknown provider denies what the CUSTOM rules match, as in Istio', () => {
  const custom = policy('ext', 'foo', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [{ to: [{ operation: { paths: ['/secure/*'] } }] }] });
  const providers = [{ name: 'opa', envoyExtAuthzHttp: { service: 'opa.foo.svc.cluster.local', port: 8181, failOpen: false } }];
  const out = translateAuthorization([custom, policy('deny', 'foo', { action: 'DENY', rules: [{}] })], { ...TARGET, extensionProviders: providers });
  assert.deepEqual(out.http.map((f) => f.name), ['envoy.filters.http.rbac', 'envoy.filters.http.ext_authz', 'envoy.filters.http.rbac']);
  assert.equal(out.http[0]!.typed_config['shadow_rules_stat_prefix'], 'istio_ext_authz_');
  assert.ok('ns[foo]-policy[ext]-rule[0]' in ((out.http[0]!.typed_config['shadow_rules'] as { policies: object }).policies) === false);
  assert.ok('istio-ext-authz-ns[foo]-policy[ext]-rule[0]' in (out.http[0]!.typed_config['shadow_rules'] as { policies: object }).policies);
  // Istio's getBadCustomDenyRules (testdata http/custom-bad-out.yaml): one enforced DENY filter in the
  // CUSTOM place holding the CUSTOM rules, renamed with `-deny-due-to-bad-CUSTOM-action`; nothing else.
  const unknown = translateAuthorization([custom], TARGET);
  assert.equal(unknown.warnings.length, 1);
  assert.deepEqual(unknown.http.map((f) => f.name), ['envoy.filters.http.rbac']);
  const markerRule = (out.http[0]!.typed_config['shadow_rules'] as { policies: Record<string, unknown> }).policies['istio-ext-authz-ns[foo]-policy[ext]-rule[0]'];
  assert.deepEqual(unknown.http[0]!.typed_config['rules'], { action: 'DENY', policies: { 'istio-ext-authz-ns[foo]-policy[ext]-rule[0]-deny-due-to-bad-CUSTOM-action': markerRule } });
  assert.equal(unknown.http[0]!.typed_config['shadow_rules'], undefined);
  const secure = decideHttp([custom], { path: '/secure/x' });
  assert.equal(secure.status, 403);
  assert.equal(secure.ctx.info.responseCodeDetails, 'rbac_access_denied_matched_policy[istio-ext-authz-ns[foo]-policy[ext]-rule[0]-deny-due-to-bad-CUSTOM-action]');
  assert.deepEqual(secure.ctx.info.dynamicMetadata.get('outrigger.rbac')?.['denied_by'], 'foo/ext rule 0 (CUSTOM, provider unusable)');
  assert.equal(decideHttp([custom], { path: '/open' }).status, 200, 'a request no CUSTOM rule matches goes on');
  // A CUSTOM policy without rules (refused at load) gets Istio's rbacPolicyMatchNever: it denies nothing.
  const ruleless = policy('none', 'foo', { action: 'CUSTOM', provider: { name: 'opa' } });
  assert.deepEqual(Object.keys((translateAuthorization([ruleless], TARGET).http[0]!.typed_config['rules'] as { policies: object }).policies), ['istio-ext-authz-ns[foo]-policy[none]-rule[0]-deny-due-to-bad-CUSTOM-action']);
  assert.equal(decideHttp([ruleless], { path: '/open' }).status, 200);
  assert.equal(decideTcp([ruleless]), true);
  const allow = policy('allow', 'foo', { rules: [{ to: [{ operation: { paths: ['/allowed'] } }] }] });
  assert.equal(decideHttp([custom, allow], { path: '/open' }).status, 403, 'and meets the ALLOW policies as usual');
  assert.equal(decideHttp([custom, allow], { path: '/allowed' }).status, 200);
  // On TCP the path is HTTP-only and ignored (the rule kept, as for the marker): every connection is denied.
  assert.deepEqual(Object.keys(unknown.tcp[0]!.typed_config['rules'] as object), ['action', 'policies']);
  assert.equal(decideTcp([custom]), false);
  const onPort = policy('ext', 'foo', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [{ to: [{ operation: { ports: ['5432'] } }] }] });
  assert.equal(decideTcp([onPort], { localPort: 5432 }), false);
  assert.equal(decideTcp([onPort], { localPort: 8000 }), true, 'a connection no CUSTOM rule matches is not denied');
});

// Istio builds CUSTOM rules with RBAC_DENY "so that a HTTP rule is properly handled when generating for
// TCP filter chain" (builder.go): an HTTP-only field is ignored on TCP, the rule kept, the connection checked.
test('CUSTOM on TCP: a rule with HTTP-only fields is kept without them, so connections go to the provider', () => {
  const providers = [{ name: 'grpc-authz', envoyExtAuthzGrpc: { service: 'authz.foo.svc.cluster.local', port: 9000 } }];
  const target = { ...TARGET, extensionProviders: providers };
  for (const operation of [{ paths: ['/admin'] }, { ports: ['5432'], paths: ['/admin'] }, { methods: ['GET'] }, { hosts: ['db.example.com'] }]) {
    const p = policy('ext', 'foo', { action: 'CUSTOM', provider: { name: 'grpc-authz' }, rules: [{ to: [{ operation }] }] });
    const tcp = translateAuthorization([p], target).tcp;
    assert.deepEqual(tcp.map((f) => f.name), ['envoy.filters.network.rbac', 'envoy.filters.network.ext_authz'], JSON.stringify(operation));
    const marker = compileNetworkRbac(roundTrip(tcp[0]!.typed_config));
    const id = (localPort: number) => marker.check(connection({ localPort })).shadow?.['istio_ext_authz_shadow_effective_policy_id'];
    assert.equal(id(5432), 'istio-ext-authz-ns[foo]-policy[ext]-rule[0]', JSON.stringify(operation));
    if (operation.ports) assert.equal(id(8000), '', 'the ports part still narrows the rule');
  }
});

// Istio's builder (1.20 on) puts a dry-run CUSTOM policy's rules in shadow rules it never emits: the
// marker RBAC carries only enforced CUSTOM rules, so the provider is never asked for a dry-run policy.
test('CUSTOM dry run: the provider is never triggered by a dry-run policy', () => {
  const providers = [{ name: 'my-authz', envoyExtAuthzHttp: { service: 'authz.foo.svc.cluster.local', port: 8000 } }];
  const target = { ...TARGET, extensionProviders: providers };
  const dry = policy('ext-dry', 'foo', { action: 'CUSTOM', provider: { name: 'my-authz' }, rules: [{}] }, { 'istio.io/dry-run': 'true' });
  const onlyDry = translateAuthorization([dry], target);
  assert.deepEqual(onlyDry.http, []);
  assert.deepEqual(onlyDry.tcp, []);
  const enforced = policy('ext', 'foo', { action: 'CUSTOM', provider: { name: 'my-authz' }, rules: [{ to: [{ operation: { paths: ['/secure'] } }] }] });
  const both = translateAuthorization([dry, enforced], target).http;
  const marker = both[0]!.typed_config;
  assert.equal(marker['rules'], undefined);
  assert.deepEqual(Object.keys((marker['shadow_rules'] as { policies: object }).policies), ['istio-ext-authz-ns[foo]-policy[ext]-rule[0]']);
  assert.equal(decideHttp([dry, enforced], { path: '/other' }, target).ctx.info.dynamicMetadata.get('envoy.filters.http.rbac')?.['istio_ext_authz_shadow_effective_policy_id'], '');
  assert.equal(decideHttp([dry, enforced], { path: '/secure' }, target).ctx.info.dynamicMetadata.get('envoy.filters.http.rbac')?.['istio_ext_authz_shadow_effective_policy_id'], 'istio-ext-authz-ns[foo]-policy[ext]-rule[0]');
});

// A dry-run CUSTOM policy (refused by validation, as Istio's checkDryRunAnnotation) takes no provider
// slot: an enforced CUSTOM policy naming another provider is still enforced.
test('CUSTOM dry run with another provider: the enforced provider still runs', () => {
  const providers = [
    { name: 'audit-authz', envoyExtAuthzHttp: { service: 'audit.foo.svc.cluster.local', port: 8000 } },
    { name: 'opa', envoyExtAuthzHttp: { service: 'opa.foo.svc.cluster.local', port: 8181 } },
  ];
  const target = { ...TARGET, extensionProviders: providers };
  const dry = policy('a-trial', 'foo', { action: 'CUSTOM', provider: { name: 'audit-authz' }, rules: [{}] }, { 'istio.io/dry-run': 'true' });
  const enforced = policy('b-opa', 'foo', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] });
  const out = translateAuthorization([dry, enforced], target);
  assert.deepEqual(out.warnings, []);
  assert.deepEqual(out.http.map((f) => f.name), ['envoy.filters.http.rbac', 'envoy.filters.http.ext_authz']);
  assert.match(JSON.stringify(out.http[1]!.typed_config), /opa\.foo\.svc\.cluster\.local/);
  // istio.io/dry-run is read as Go's strconv.ParseBool: "True" and "1" are dry-run, "yes" is not.
  for (const v of ['True', '1', 'T']) {
    const d = policy('dry', 'foo', { action: 'DENY', rules: [{}] }, { 'istio.io/dry-run': v });
    assert.equal(decideHttp([d], {}).status, 200, v);
  }
  assert.equal(decideHttp([policy('dry', 'foo', { action: 'DENY', rules: [{}] }, { 'istio.io/dry-run': 'false' })], {}).status, 403);
});

// Istio's buildHTTP/buildTCP: more than one CUSTOM provider on a workload cannot be served; what the CUSTOM
// rules match is denied (getBadCustomDenyRules, testdata http/custom-bad-out.yaml).
test('two enforced CUSTOM providers on one workload: what their rules match is denied, with a warning', () => {
  const providers = [
    { name: 'a-authz', envoyExtAuthzGrpc: { service: 'a.foo.svc.cluster.local', port: 9000 } },
    { name: 'opa', envoyExtAuthzHttp: { service: 'opa.foo.svc.cluster.local', port: 8181 } },
  ];
  const target = { ...TARGET, extensionProviders: providers };
  const a = policy('a', 'foo', { action: 'CUSTOM', provider: { name: 'a-authz' }, rules: [{ to: [{ operation: { paths: ['/metrics'] } }] }] });
  const b = policy('b', 'foo', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] });
  const out = translateAuthorization([a, b], target);
  assert.equal(out.warnings.length, 1);
  assert.match(out.warnings[0]!, /a-authz, opa/);
  assert.equal(out.http.some((f) => f.name.endsWith('ext_authz')), false);
  assert.deepEqual(out.http.map((f) => f.name), ['envoy.filters.http.rbac']);
  assert.deepEqual(Object.keys((out.http[0]!.typed_config['rules'] as { policies: object }).policies), [
    'istio-ext-authz-ns[foo]-policy[a]-rule[0]-deny-due-to-bad-CUSTOM-action',
    'istio-ext-authz-ns[foo]-policy[b]-rule[0]-deny-due-to-bad-CUSTOM-action',
  ]);
  assert.equal(decideHttp([a, b], { path: '/open' }, target).status, 200, 'a path no CUSTOM rule names goes on');
  for (const path of ['/metrics', '/admin/x']) {
    const r = decideHttp([a, b], { path }, target);
    assert.equal(r.status, 403, path);
    assert.match(r.ctx.info.responseCodeDetails ?? '', /^rbac_access_denied_matched_policy\[istio-ext-authz-ns\[foo\]-policy\[[ab]\]-rule\[0\]-deny-due-to-bad-CUSTOM-action\]$/);
  }
  // In the CUSTOM place: before DENY and ALLOW.
  const deny = policy('deny', 'foo', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/metrics'] } }] }] });
  const withDeny = translateAuthorization([a, b, deny], target).http;
  assert.deepEqual(withDeny.map((f) => Object.keys((f.typed_config['rules'] as { policies: object }).policies)[0]), [
    'istio-ext-authz-ns[foo]-policy[a]-rule[0]-deny-due-to-bad-CUSTOM-action',
    'ns[foo]-policy[deny]-rule[0]',
  ]);
  // On TCP the HTTP-only paths are ignored, the rules kept: every connection is denied, as in Istio.
  assert.equal(decideTcp([a, b], {}, target), false);
});

// Istio's custom builder builds the marker with RBAC_DENY: a request sent to the provider reads "denied".
test('CUSTOM marker: action DENY, a request for the provider reads shadow_engine_result denied', () => {
  const providers = [{ name: 'opa', envoyExtAuthzHttp: { service: 'opa.foo.svc.cluster.local', port: 8181 } }];
  const target = { ...TARGET, extensionProviders: providers };
  const p = policy('ext', 'foo', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [{ to: [{ operation: { paths: ['/x'] } }] }] });
  const out = translateAuthorization([p], target);
  assert.equal((out.http[0]!.typed_config['shadow_rules'] as { action: string }).action, 'DENY');
  assert.deepEqual(out.tcp, [], 'an HTTP provider does not apply to TCP');
  const hit = decideHttp([p], { path: '/x' }, target).ctx.info.dynamicMetadata.get('envoy.filters.http.rbac');
  assert.equal(hit?.['istio_ext_authz_shadow_engine_result'], 'denied');
  assert.equal(hit?.['istio_ext_authz_shadow_effective_policy_id'], 'istio-ext-authz-ns[foo]-policy[ext]-rule[0]');
  const miss = decideHttp([p], { path: '/y' }, target).ctx.info.dynamicMetadata.get('envoy.filters.http.rbac');
  assert.equal(miss?.['istio_ext_authz_shadow_engine_result'], 'allowed');
  assert.equal(miss?.['istio_ext_authz_shadow_effective_policy_id'], '');
});

test('denial receipt: names policy and rule with the debug header or in local mode, and always in stream info', () => {
  const deny = [policy('no-admin', 'foo', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/x'] } }] }, { to: [{ operation: { paths: ['/admin'] } }] }] })];
  const plain = decideHttp(deny, { path: '/admin' });
  assert.ok(plain.verdict?.action === 'respond');
  assert.equal(plain.verdict.reply.flag, 'RBAC');
  assert.equal(plain.verdict.reply.body, 'RBAC: access denied');
  assert.equal(plain.verdict.reply.headers, undefined);
  assert.equal(plain.verdict.reply.details, 'rbac_access_denied_matched_policy[ns[foo]-policy[no-admin]-rule[1]]');
  assert.deepEqual(plain.ctx.info.dynamicMetadata.get('outrigger.rbac'), { action: 'DENY', policy: 'ns[foo]-policy[no-admin]-rule[1]', denied_by: 'foo/no-admin rule 1' });
  const debug = decideHttp(deny, { path: '/admin', headers: { 'x-outrigger-debug': '1' } });
  assert.ok(debug.verdict?.action === 'respond');
  assert.deepEqual(debug.verdict.reply.headers, { 'x-outrigger-denied-by': 'foo/no-admin rule 1' });
  assert.match(String(debug.verdict.reply.body), /denied by foo\/no-admin rule 1/);
  const allowOnly = decideHttp([policy('allow-get', 'foo', { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] })], { method: 'PUT', headers: { 'x-outrigger-debug': '1' } });
  assert.ok(allowOnly.verdict?.action === 'respond');
  assert.equal(allowOnly.verdict.reply.details, 'rbac_access_denied_matched_policy[none]');
  assert.deepEqual(allowOnly.verdict.reply.headers, { 'x-outrigger-denied-by': 'no ALLOW policy matched' });
  const local = createRbacFilterFactory({ localMode: true }).create(translateAuthorization(deny, TARGET).http[0]!.typed_config);
  const v = local.onRequest!(context({ path: '/admin' })) as FilterVerdict;
  assert.ok(v.action === 'respond');
  assert.deepEqual(v.reply.headers, { 'x-outrigger-denied-by': 'foo/no-admin rule 1' });
});

test('RBACPerRoute: a route can disable the filter or replace its rules', () => {
  const factory = createRbacFilterFactory();
  const filter = factory.create({ '@type': TypeUrl.HttpRbac, rules: { action: 'DENY', policies: { all: { permissions: [{ any: true }], principals: [{ any: true }] } } } });
  const disabled = factory.compilePerRoute!({ '@type': TypeUrl.HttpRbacPerRoute });
  const replaced = factory.compilePerRoute!({ '@type': TypeUrl.HttpRbacPerRoute, rbac: { '@type': TypeUrl.HttpRbac, rules: { action: 'ALLOW', policies: { all: { permissions: [{ any: true }], principals: [{ any: true }] } } } } });
  const withRoute = (cfg: unknown) => ({ ...context({}), route: { name: 'r', perFilterConfig: () => cfg } });
  assert.equal((filter.onRequest!(context({})) as FilterVerdict).action, 'respond');
  assert.equal((filter.onRequest!(withRoute(disabled)) as FilterVerdict).action, 'continue');
  assert.equal((filter.onRequest!(withRoute(replaced)) as FilterVerdict).action, 'continue');
  assert.equal((filter.onRequest!(withRoute(undefined)) as FilterVerdict).action, 'respond');
});

test('a bad RBAC config is rejected with the field path (NACK)', () => {
  const factory = createRbacFilterFactory();
  const bad = (permission: object) => ({ '@type': TypeUrl.HttpRbac, rules: { policies: { p: { permissions: [permission], principals: [{ any: true }] } } } });
  assert.throws(() => factory.create(bad({ url_path: { path: { safe_regex: { regex: '(' } } } })), (e: unknown) => e instanceof FilterConfigError && /policies\[p\]\.permissions\[0\]\.url_path/.test(e.message));
  assert.throws(() => factory.create(bad({ uri_template: {} })), /unsupported permission/);
  assert.throws(() => factory.create(bad({ destination_ip: { address_prefix: 'nope' } })), /destination_ip/);
});

test('a policy denial is recorded in stream info (flag and details), an allowed request is not', () => {
  const deny = [policy('deny-all', 'foo', { action: 'DENY', rules: [{}] })];
  const denied = decideHttp(deny, {});
  assert.deepEqual([...denied.ctx.info.responseFlags], ['RBAC']);
  assert.equal(denied.ctx.info.responseCodeDetails, 'rbac_access_denied_matched_policy[ns[foo]-policy[deny-all]-rule[0]]');
  const allowed = decideHttp([], {});
  assert.equal(allowed.ctx.info.responseFlags.size, 0);
  assert.equal(allowed.ctx.info.responseCodeDetails, undefined);
});
