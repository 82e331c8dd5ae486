// Values translation cannot turn into Envoy config, handled as Istio's authz model does
// (pilot/pkg/security/authz/model/model.go): a generator's error (a CIDR or port that does not parse,
// an HTTP-only field on TCP, a malformed key of a known attribute) drops an ALLOW rule and is ignored by
// DENY, AUDIT and CUSTOM (checkError: "a wider deny or audit policy"); an unknown `when` key drops the
// rule for every action (model.New: "unknown attribute"). Whatever the input, nothing the proxy refuses
// is emitted: a refused listener keeps its old config, without the policy, and so fails open.
// decideHttp/decideTcp compile every emitted filter with the proxy's own RBAC filters, which throw on a
// config the proxy would NACK.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Condition, Rule } from '../../src/config/types/security.ts';
import { compileNetworkRbac } from '../../src/proxy/filters/rbac/network-filter.ts';
import { translateAuthorization } from '../../src/translate/authorization.ts';
import { connection, decideHttp, decideTcp, policy, roundTrip, TARGET } from './simulate.ts';

const from = (source: NonNullable<Rule['from']>[number]['source']): Rule => ({ from: [{ source }] });
const when = (...c: Condition[]): Rule => ({ when: c });
const PEER = { connection: { remoteAddress: '10.1.2.3' } };
const OUTSIDER = { connection: { remoteAddress: '192.168.1.1' } };

/** Every translated filter (HTTP and TCP) is accepted by the proxy. */
function accepted(rules: Rule[], action: 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM'): void {
  const providers = [{ name: 'grpc-authz', envoyExtAuthzGrpc: { service: 'authz.foo.svc.cluster.local', port: 9000 } }];
  const p = policy('p', 'foo', { action, rules, ...(action === 'CUSTOM' ? { provider: { name: 'grpc-authz' } } : {}) });
  const out = translateAuthorization([p], { ...TARGET, extensionProviders: providers });
  decideHttp([p], {}, { ...TARGET, extensionProviders: providers });
  for (const f of out.tcp) if (f.name === 'envoy.filters.network.rbac') compileNetworkRbac(roundTrip(f.typed_config)).check(connection());
}

const BAD: [string, Rule][] = [
  ['ipBlocks /33', from({ ipBlocks: ['10.0.0.0/8', '192.168.20.0/33'] })],
  ['ipBlocks not an IP', from({ ipBlocks: ['10.0.0.0/8', 'not-an-ip'] })],
  ['notIpBlocks', from({ notIpBlocks: ['10.0.0.300'] })],
  ['remoteIpBlocks', from({ remoteIpBlocks: ['10.0.0.0/8', '::1/129'] })],
  ['notRemoteIpBlocks', from({ notRemoteIpBlocks: ['10.0.0.0/08'] })],
  ['source.ip', when({ key: 'source.ip', values: ['10.0.0.0/8', '10.0.0.300'] })],
  ['remote.ip', when({ key: 'remote.ip', notValues: ['fe80::1%eth0'] })],
  ['destination.ip', when({ key: 'destination.ip', values: ['10.0.0.1/x'] })],
  ['destination.port', when({ key: 'destination.port', values: ['8000', 'http'] })],
  ['ports', { to: [{ operation: { ports: ['8000', '70000'] } }] }],
  ['notPorts', { to: [{ operation: { notPorts: ['-1'] } }] }],
  ['request.headers without brackets', when({ key: 'request.headers.x-tenant', values: ['prod'] })],
  ['request.auth.claims without brackets', when({ key: 'request.auth.claims', values: ['admin'] })],
  ['experimental.envoy.filters without brackets', when({ key: 'experimental.envoy.filters.http.lua', values: ['x'] })],
  ['unknown key', when({ key: 'request.header[x-tenant]', values: ['prod'] })],
];

for (const [name, rule] of BAD) {
  test(`${name}: every action translates to config the proxy accepts`, () => {
    for (const action of ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'] as const) accepted([rule], action);
  });
}

test('ALLOW: a rule with a value that cannot be translated is dropped, the policy still denies by default', () => {
  const allow = policy('only-office', 'foo', { rules: [from({ ipBlocks: ['10.0.0.0/8', '192.168.20.0/33'] })] });
  assert.equal(decideHttp([allow], PEER).status, 403, 'the whole rule is dropped, not just the bad block');
  assert.equal(decideHttp([allow], OUTSIDER).status, 403);
  assert.equal(decideTcp([allow], PEER.connection), false);
  const withGood = policy('office', 'foo', { rules: [from({ ipBlocks: ['10.0.0.0/8', 'not-an-ip'] }), from({ ipBlocks: ['192.168.0.0/16'] })] });
  assert.equal(decideHttp([withGood], PEER).status, 403);
  assert.equal(decideHttp([withGood], OUTSIDER).status, 200, 'the other rule still allows');
  const port = policy('port', 'foo', { rules: [when({ key: 'destination.port', values: ['8000', 'http'] })] });
  assert.equal(decideHttp([port], {}).status, 403);
});

test('DENY: a value that cannot be translated is ignored, the rule gets wider', () => {
  const some = policy('deny-net', 'foo', { action: 'DENY', rules: [from({ ipBlocks: ['10.0.0.0/8', 'not-an-ip'] })] });
  assert.equal(decideHttp([some], PEER).status, 403, 'the good block still denies');
  assert.equal(decideHttp([some], OUTSIDER).status, 200);
  const only = policy('deny-bad', 'foo', { action: 'DENY', rules: [{ ...when({ key: 'source.ip', values: ['10.0.0.300'] }), to: [{ operation: { paths: ['/admin'] } }] }] });
  assert.equal(decideHttp([only], { ...OUTSIDER, path: '/admin' }).status, 403, 'the bad condition is ignored, the rest decides');
  assert.equal(decideHttp([only], { ...OUTSIDER, path: '/x' }).status, 200);
  const port = policy('deny-port', 'foo', { action: 'DENY', rules: [when({ key: 'destination.port', values: ['http'] })] });
  assert.equal(decideTcp([port], { localPort: 9000 }), false, 'a DENY whose only condition is bad denies every connection');
  const notPort = policy('deny-not-port', 'foo', { action: 'DENY', rules: [{ to: [{ operation: { ports: ['9000'], notPorts: ['http'] } }] }] });
  assert.equal(decideTcp([notPort], { localPort: 9000 }), false);
  assert.equal(decideTcp([notPort], { localPort: 8000 }), true);
});

test('AUDIT and CUSTOM: a value that cannot be translated is ignored too', () => {
  const audit = policy('audit', 'foo', { action: 'AUDIT', rules: [from({ ipBlocks: ['192.168.0.0/16', 'bad'] })] });
  assert.deepEqual(decideHttp([audit], OUTSIDER).ctx.info.dynamicMetadata.get('envoy.common'), { access_log_hint: true });
  assert.deepEqual(decideHttp([audit], PEER).ctx.info.dynamicMetadata.get('envoy.common'), { access_log_hint: false });
  const providers = [{ name: 'opa', envoyExtAuthzHttp: { service: 'opa.foo.svc.cluster.local', port: 8181 } }];
  const custom = policy('ext', 'foo', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [when({ key: 'destination.port', values: ['http'] })] });
  const marker = translateAuthorization([custom], { ...TARGET, extensionProviders: providers }).http[0]!.typed_config;
  assert.deepEqual(Object.keys((marker['shadow_rules'] as { policies: object }).policies), ['istio-ext-authz-ns[foo]-policy[ext]-rule[0]']);
});

test('an unknown when key drops the rule for every action (Istio model.New: unknown attribute)', () => {
  const typo = when({ key: 'request.header[x-tenant]', values: ['prod'] });
  const deny = policy('deny-typo', 'foo', { action: 'DENY', rules: [typo] });
  assert.equal(decideHttp([deny], { headers: { 'x-tenant': 'dev' } }).status, 200, 'a DENY meant for x-tenant=prod does not deny everything');
  assert.equal(decideTcp([deny]), true);
  const allow = policy('allow-typo', 'foo', { rules: [typo] });
  assert.equal(decideHttp([allow], { headers: { 'x-tenant': 'prod' } }).status, 403);
  const audit = policy('audit-typo', 'foo', { action: 'AUDIT', rules: [typo] });
  assert.equal(decideHttp([audit], {}).ctx.info.dynamicMetadata.get('envoy.common'), undefined);
  const providers = [{ name: 'opa', envoyExtAuthzHttp: { service: 'opa.foo.svc.cluster.local', port: 8181 } }];
  const custom = policy('ext', 'foo', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [typo] });
  assert.deepEqual(translateAuthorization([custom], { ...TARGET, extensionProviders: providers }).http, []);
});

test('a malformed key of a known attribute is a value error: ALLOW drops the rule, DENY ignores the condition', () => {
  const bad = when({ key: 'request.headers.x-tenant', values: ['prod'] });
  assert.equal(decideHttp([policy('allow', 'foo', { rules: [bad] })], {}).status, 403);
  const deny = policy('deny', 'foo', { action: 'DENY', rules: [{ ...bad, to: [{ operation: { paths: ['/admin'] } }] }] });
  assert.equal(decideHttp([deny], { path: '/admin' }).status, 403);
  assert.equal(decideHttp([deny], { path: '/x' }).status, 200);
});

test('valid values in every accepted form still translate', () => {
  const allow = policy('allow', 'foo', {
    rules: [from({ ipBlocks: ['10.1.2.3', '10.0.0.0/8', '2001:db8::/32', '::ffff:10.0.0.1'] })],
  });
  assert.equal(decideHttp([allow], PEER).status, 200);
  const port = policy('port', 'foo', { rules: [when({ key: 'destination.port', values: ['08000', '65535'] })] });
  assert.equal(decideHttp([port], {}).status, 200, 'a leading zero parses, as Go ParseUint does');
});

// Validation accepts an IPv6 address with a zone (netip.ParseAddr); Istio's AddrStrToPrefix strips the
// zone (netip.PrefixFrom), so fe80::1%eth0 matches fe80::1/128. Both sides read the one parser.
test('an IPv6 address with a zone is that host: a DENY denies only it, an ALLOW admits it', () => {
  const rule = (action: 'ALLOW' | 'DENY') => policy('link-local', 'foo', { action, rules: [{ from: [{ source: { ipBlocks: ['fe80::1%eth0'] } }] }] });
  const other = { connection: { remoteAddress: '10.1.2.3' } };
  const host = { connection: { remoteAddress: 'fe80::1' } };
  assert.equal(decideHttp([rule('DENY')], other).status, 200);
  assert.equal(decideHttp([rule('DENY')], host).status, 403);
  assert.equal(decideTcp([rule('DENY')], other.connection), true);
  assert.equal(decideHttp([rule('ALLOW')], host).status, 200);
  assert.equal(decideHttp([rule('ALLOW')], other).status, 403);
  const config = JSON.stringify(translateAuthorization([rule('DENY')], TARGET).http);
  assert.match(config, /"address_prefix":"fe80::1","prefix_len":\{"value":128\}/);
});
