// Envoy RBAC trees straight into the engine: each permission and principal kind, readable toString,
// and the network filter's decisions on connection facts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConnectionInfo } from '../../http/stream.ts';
import { RbacEngine } from './engine.ts';
import { compileNetworkRbac, NETWORK_RBAC_TYPE_URL } from './network-filter.ts';
import { connectionRbacInput } from './rbac-input.ts';
import type { Permission, Principal, RbacInput } from './rbac-types.ts';

function input(over: Partial<RbacInput> & { headers?: Record<string, string[]> } = {}): RbacInput {
  const headers = over.headers ?? {};
  return {
    header: (n) => headers[n],
    urlPath: '/x',
    destinationIp: '10.0.0.1',
    destinationPort: 8080,
    sni: undefined,
    principal: undefined,
    directRemoteIp: '10.0.0.9',
    remoteIp: '10.0.0.9',
    metadata: new Map(),
    filterState: new Map(),
    ...over,
  };
}

/** A dual-stack socket's IPv4 peer. */
const mappedPeer: ConnectionInfo = { remoteAddress: '::ffff:10.0.0.9', remotePort: 1, localAddress: '10.0.0.1', localPort: 8080, tls: false };

const engine = (permissions: Permission[], principals: Principal[] = [{ any: true }]) =>
  new RbacEngine({ action: 'ALLOW', policies: { p: { permissions, principals } } });

test('permission kinds', () => {
  const cases: [Permission, RbacInput, boolean][] = [
    [{ destination_port_range: { start: 8000, end: 8081 } }, input(), true],
    [{ destination_port_range: { start: 8000, end: 8080 } }, input(), false],
    [{ header: { name: 'x-n', range_match: { start: 1, end: 10 } } }, input({ headers: { 'x-n': ['5'] } }), true],
    [{ header: { name: 'x-n', range_match: { start: 1, end: 10 } } }, input({ headers: { 'x-n': ['5a'] } }), false],
    [{ header: { name: 'x-a', present_match: true } }, input({ headers: { 'x-a': [''] } }), true],
    [{ header: { name: 'x-a', present_match: true, invert_match: true } }, input(), true],
    [{ header: { name: 'x-a', string_match: { contains: 'MID', ignore_case: true } } }, input({ headers: { 'x-a': ['a-mid-b'] } }), true],
    [{ header: { name: 'x-a', safe_regex_match: { regex: 'a+' } } }, input({ headers: { 'x-a': ['aab'] } }), false],
    [{ header: { name: 'x-a', exact_match: '' , treat_missing_header_as_empty: true } }, input(), true],
    [{ requested_server_name: { suffix: '.example.com' } }, input({ sni: 'a.example.com' }), true],
    [{ destination_ip: { address_prefix: 'fd00::', prefix_len: { value: 8 } } }, input({ destinationIp: 'fd12::1' }), true],
    [{ metadata: { filter: 'f', path: [{ key: 'a' }, { key: 'b' }], value: { bool_match: true } } }, input({ metadata: new Map([['f', { a: { b: true } }]]) }), true],
    [{ metadata: { filter: 'f', path: [{ key: 'n' }], value: { double_match: { range: { start: 1, end: 2 } } } } }, input({ metadata: new Map([['f', { n: 1.5 }]]) }), true],
    [{ metadata: { filter: 'f', path: [{ key: 'a' }], value: { present_match: true }, invert: true } }, input(), true],
    [{ url_path: { path: { prefix: '/x' } } }, connectionRbacInput({ remoteAddress: '1.1.1.1', remotePort: 1, localAddress: '2.2.2.2', localPort: 1, tls: false }), false],
  ];
  for (const [perm, i, want] of cases) assert.equal(engine([perm]).evaluate(i).allowed, want, JSON.stringify(perm));
});

test('principal kinds', () => {
  const cases: [Principal, RbacInput, boolean][] = [
    [{ authenticated: {} }, input({ principal: 'spiffe://td/ns/a/sa/b' }), true],
    [{ authenticated: {} }, input(), false],
    [{ source_ip: { address_prefix: '10.0.0.0', prefix_len: { value: 8 } } }, input(), true],
    [{ remote_ip: { address_prefix: '192.168.0.0', prefix_len: { value: 16 } } }, input({ remoteIp: '192.168.3.4' }), true],
    [{ filter_state: { key: 'io.istio.peer_principal', string_match: { exact: 'spiffe://x' } } }, input({ filterState: new Map([['io.istio.peer_principal', 'spiffe://x']]) }), true],
    [{ not_id: { and_ids: { ids: [{ any: true }, { direct_remote_ip: { address_prefix: '10.0.0.9', prefix_len: { value: 32 } } }] } } }, input(), false],
    [{ or_ids: { ids: [{ url_path: { path: { exact: '/y' } } }, { header: { name: ':method', string_match: { exact: 'GET' } } }] } }, input({ headers: { ':method': ['GET'] } }), true],
  ];
  for (const [princ, i, want] of cases) assert.equal(engine([{ any: true }], [princ]).evaluate(i).allowed, want, JSON.stringify(princ));
});

// Envoy's CidrRange::isInRange returns false when the range and the address differ in family, and Envoy
// reports a dual-stack socket's IPv4 peer (`::ffff:a.b.c.d`) as IPv4. Node's BlockList alone matches an
// IPv6 range such as `::/0` or `::ffff:10.0.0.0/104` against IPv4 addresses.
test('CIDR ranges match only addresses of their own family; a v4-mapped peer is IPv4', () => {
  const range = (address_prefix: string, value: number) => ({ address_prefix, prefix_len: { value } });
  const cases: [Principal, RbacInput, boolean][] = [
    [{ direct_remote_ip: range('::', 0) }, input({ directRemoteIp: '2001:db8::1' }), true],
    [{ direct_remote_ip: range('::', 0) }, input({ directRemoteIp: '10.0.0.9' }), false],
    [{ direct_remote_ip: range('::', 0) }, input({ directRemoteIp: '::ffff:10.0.0.9' }), false],
    [{ direct_remote_ip: range('::ffff:10.0.0.0', 104) }, input({ directRemoteIp: '10.0.0.9' }), false],
    [{ direct_remote_ip: range('::ffff:10.0.0.0', 104) }, input({ directRemoteIp: '::ffff:10.0.0.9' }), false],
    [{ direct_remote_ip: range('0.0.0.0', 0) }, input({ directRemoteIp: '::ffff:10.0.0.9' }), true],
    [{ direct_remote_ip: range('0.0.0.0', 0) }, input({ directRemoteIp: '2001:db8::1' }), false],
    [{ direct_remote_ip: range('10.0.0.0', 8) }, input({ directRemoteIp: '::ffff:10.0.0.9' }), true],
    [{ remote_ip: range('::', 0) }, input({ remoteIp: '192.168.3.4' }), false],
    // remote_ip is matched as written (an X-Forwarded-For entry; Envoy parses XFF with v6only true): a
    // written `::ffff:10.0.0.9` is IPv6. The connection input unmaps the socket's peer itself.
    [{ remote_ip: range('::', 0) }, input({ remoteIp: '::ffff:10.0.0.9' }), true],
    [{ remote_ip: range('::ffff:10.0.0.0', 104) }, input({ remoteIp: '::ffff:10.0.0.9' }), true],
    [{ remote_ip: range('10.0.0.0', 8) }, input({ remoteIp: '::ffff:10.0.0.9' }), false],
    [{ remote_ip: range('10.0.0.0', 8) }, connectionRbacInput(mappedPeer), true],
    [{ remote_ip: range('::', 0) }, connectionRbacInput(mappedPeer), false],
    [{ source_ip: range('::', 0) }, input({ directRemoteIp: '10.0.0.9' }), false],
  ];
  for (const [princ, i, want] of cases) assert.equal(engine([{ any: true }], [princ]).evaluate(i).allowed, want, `${JSON.stringify(princ)} ${i.directRemoteIp} ${i.remoteIp}`);
  assert.equal(engine([{ destination_ip: range('::', 0) }]).evaluate(input({ destinationIp: '10.0.0.1' })).allowed, false);
  assert.equal(engine([{ destination_ip: range('::', 0) }]).evaluate(input({ destinationIp: 'fd00::1' })).allowed, true);
});

test('toString reads like the config', () => {
  const e = new RbacEngine({
    action: 'DENY',
    policies: {
      'ns[foo]-policy[p]-rule[0]': {
        permissions: [{ and_rules: { rules: [{ url_path: { path: { prefix: '/admin' } } }, { not_rule: { destination_port: 80 } }] } }],
        principals: [{ authenticated: { principal_name: { exact: 'spiffe://cluster.local/ns/foo/sa/a' } } }],
      },
    },
  });
  assert.equal(
    e.toString(),
    'rbac(DENY) {\n  ns[foo]-policy[p]-rule[0]: permissions=and(url_path(prefix(/admin)), not(destination_port(80))) principals=authenticated(exact(spiffe://cluster.local/ns/foo/sa/a))\n}',
  );
});

test('policies are reported in name order; LOG never denies', () => {
  const any = { permissions: [{ any: true }], principals: [{ any: true }] };
  const deny = new RbacEngine({ action: 'DENY', policies: { b: any, a: any } });
  assert.deepEqual(deny.evaluate(input()), { allowed: false, matchedPolicy: 'a' });
  assert.deepEqual(new RbacEngine({ action: 'LOG', policies: { a: any } }).evaluate(input()), { allowed: true, matchedPolicy: 'a' });
});

test('network RBAC: enforced, shadow and receipts on connection facts', () => {
  const conn = (c: Partial<ConnectionInfo>): ConnectionInfo => ({ remoteAddress: '10.0.0.9', remotePort: 1, localAddress: '10.0.0.1', localPort: 3306, tls: false, ...c });
  const rbac = compileNetworkRbac({
    '@type': NETWORK_RBAC_TYPE_URL,
    rules: { action: 'ALLOW', policies: { 'ns[db]-policy[mysql]-rule[0]': { permissions: [{ destination_port: 3306 }], principals: [{ authenticated: { principal_name: { suffix: '/sa/app' } } }] } } },
    shadow_rules: { action: 'DENY', policies: { dry: { permissions: [{ any: true }], principals: [{ any: true }] } } },
    shadow_rules_stat_prefix: 'istio_dry_run_deny_',
  });
  const ok = rbac.check(conn({ tls: true, peerPrincipal: 'spiffe://cluster.local/ns/x/sa/app' }));
  assert.equal(ok.allowed, true);
  assert.deepEqual(ok.shadow, { istio_dry_run_deny_shadow_effective_policy_id: 'dry', istio_dry_run_deny_shadow_engine_result: 'denied' });
  const plaintext = rbac.check(conn({}));
  assert.equal(plaintext.allowed, false);
  assert.equal(plaintext.details, 'rbac_access_denied_matched_policy[none]');
  assert.match(rbac.toString(), /destination_port\(3306\)/);
});
