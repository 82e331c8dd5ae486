// Istio's evaluation semantics end to end through translation and the proxy's filters: action order,
// default deny, empty spec vs empty rule, selection, dry run, audit, TCP field dropping, receipts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRbacFilterFactory } from '../../src/proxy/filters/rbac/http-filter.ts';
import { FilterConfigError, type FilterVerdict } from '../../src/proxy/http/filter.ts';
import { translateAuthorization } from '../../src/translate/authorization.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { context, decideHttp, decideTcp, policy, TARGET } from './simulate.ts';

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
  const svc = policy('p', 'foo', { ...deny, targetRefs: [{ kind: 'Service', name: 'httpbin' }] });
  assert.equal(decideHttp([svc], {}, { ...TARGET, services: ['httpbin'] }).status, 403);
  assert.equal(decideHttp([svc], {}, { ...TARGET, services: ['other'] }).status, 200);
  const gw = policy('p', 'foo', { ...deny, targetRef: { kind: 'Gateway', name: 'edge' } });
  assert.equal(decideHttp([gw], {}, { ...TARGET, workloadLabels: { 'gateway.networking.k8s.io/gateway-name': 'edge' } }).status, 403);
  assert.equal(decideHttp([gw], {}).status, 200);
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
  assert.equal(decideHttp([audit], { path: '/y' }).ctx.info.dynamicMetadata.get('envoy.common'), undefined);
});

test('CUSTOM: shadow marker RBAC then ext_authz; an unknown provider denies everything, as in Istio', () => {
  const custom = policy('ext', 'foo', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [{ to: [{ operation: { paths: ['/secure/*'] } }] }] });
  const providers = [{ name: 'opa', envoyExtAuthzHttp: { service: 'opa.foo.svc.cluster.local', port: 8181, failOpen: false } }];
  const out = translateAuthorization([custom, policy('deny', 'foo', { action: 'DENY', rules: [{}] })], { ...TARGET, extensionProviders: providers });
  assert.deepEqual(out.http.map((f) => f.name), ['envoy.filters.http.rbac', 'envoy.filters.http.ext_authz', 'envoy.filters.http.rbac']);
  assert.equal(out.http[0]!.typed_config['shadow_rules_stat_prefix'], 'istio_ext_authz_');
  assert.ok('ns[foo]-policy[ext]-rule[0]' in ((out.http[0]!.typed_config['shadow_rules'] as { policies: object }).policies) === false);
  assert.ok('istio-ext-authz-ns[foo]-policy[ext]-rule[0]' in (out.http[0]!.typed_config['shadow_rules'] as { policies: object }).policies);
  const unknown = translateAuthorization([custom], TARGET);
  assert.equal(unknown.warnings.length, 1);
  assert.equal(decideHttp([custom], { path: '/secure/x' }).status, 403);
  const open = decideHttp([custom], { path: '/open' });
  assert.equal(open.status, 403);
  assert.equal(open.ctx.info.responseCodeDetails, 'rbac_access_denied_matched_policy[default-deny-all-due-to-bad-CUSTOM-action]');
  assert.equal(decideTcp([custom]), false);
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
  assert.match(debug.verdict.reply.body ?? '', /denied by foo\/no-admin rule 1/);
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
