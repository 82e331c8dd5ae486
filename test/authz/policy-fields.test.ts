// Table tests: every AuthorizationPolicy field and its not* twin, translated by the control plane's
// translator and decided by the proxy's RBAC filter (DENY policy: a match is a 403).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Rule } from '../../src/config/types/security.ts';
import type { ConnectionInfo } from '../../src/proxy/http/stream.ts';
import { decideHttp, policy, type RequestShape } from './simulate.ts';

const SLEEP = 'spiffe://cluster.local/ns/foo/sa/sleep';
const OTHER = 'spiffe://cluster.local/ns/bar/sa/other';
const mtls = (principal: string): Partial<ConnectionInfo> => ({ tls: true, peerPrincipal: principal });
const jwt = (principal: string, extra: Record<string, unknown> = {}) => ({
  istio_authn: { 'request.auth.principal': principal, ...extra },
});

interface Row {
  name: string;
  rule: Rule;
  match: RequestShape[];
  miss: RequestShape[];
}

const from = (source: Rule extends { from?: (infer F)[] } ? F extends { source: infer S } ? S : never : never): Rule => ({ from: [{ source }] });
const to = (operation: NonNullable<Rule['to']>[number]['operation']): Rule => ({ to: [{ operation }] });

const ROWS: Row[] = [
  { name: 'principals', rule: from({ principals: ['cluster.local/ns/foo/sa/sleep'] }), match: [{ connection: mtls(SLEEP) }], miss: [{ connection: mtls(OTHER) }, {}] },
  { name: 'principals prefix', rule: from({ principals: ['cluster.local/ns/foo/*'] }), match: [{ connection: mtls(SLEEP) }], miss: [{ connection: mtls(OTHER) }] },
  { name: 'principals *', rule: from({ principals: ['*'] }), match: [{ connection: mtls(OTHER) }], miss: [{}] },
  { name: 'notPrincipals', rule: from({ notPrincipals: ['cluster.local/ns/foo/sa/sleep'] }), match: [{ connection: mtls(OTHER) }, {}], miss: [{ connection: mtls(SLEEP) }] },
  { name: 'notPrincipals * (plaintext)', rule: from({ notPrincipals: ['*'] }), match: [{}], miss: [{ connection: mtls(SLEEP) }] },
  { name: 'requestPrincipals', rule: from({ requestPrincipals: ['https://issuer/alice'] }), match: [{ metadata: jwt('https://issuer/alice') }], miss: [{ metadata: jwt('https://issuer/bob') }, {}] },
  { name: 'requestPrincipals *', rule: from({ requestPrincipals: ['*'] }), match: [{ metadata: jwt('https://issuer/bob') }], miss: [{}] },
  { name: 'notRequestPrincipals', rule: from({ notRequestPrincipals: ['*'] }), match: [{}], miss: [{ metadata: jwt('https://issuer/bob') }] },
  { name: 'namespaces', rule: from({ namespaces: ['foo'] }), match: [{ connection: mtls(SLEEP) }], miss: [{ connection: mtls(OTHER) }, {}] },
  { name: 'namespaces suffix', rule: from({ namespaces: ['*oo'] }), match: [{ connection: mtls(SLEEP) }], miss: [{ connection: mtls(OTHER) }] },
  { name: 'namespaces * inside', rule: from({ namespaces: ['b*r'] }), match: [{ connection: mtls(OTHER) }], miss: [{ connection: mtls(SLEEP) }, {}] },
  { name: 'notNamespaces', rule: from({ notNamespaces: ['foo'] }), match: [{ connection: mtls(OTHER) }, {}], miss: [{ connection: mtls(SLEEP) }] },
  { name: 'serviceAccounts', rule: from({ serviceAccounts: ['foo/sleep'] }), match: [{ connection: mtls(SLEEP) }], miss: [{ connection: mtls(OTHER) }, {}] },
  { name: 'serviceAccounts (policy namespace)', rule: from({ serviceAccounts: ['sleep'] }), match: [{ connection: mtls(SLEEP) }], miss: [{ connection: mtls(OTHER) }] },
  { name: 'notServiceAccounts', rule: from({ notServiceAccounts: ['foo/sleep'] }), match: [{ connection: mtls(OTHER) }], miss: [{ connection: mtls(SLEEP) }] },
  { name: 'ipBlocks', rule: from({ ipBlocks: ['10.0.0.0/24'] }), match: [{}], miss: [{ connection: { remoteAddress: '10.0.1.9' } }] },
  { name: 'ipBlocks single ip, v4-mapped peer', rule: from({ ipBlocks: ['10.0.0.9'] }), match: [{ connection: { remoteAddress: '::ffff:10.0.0.9' } }], miss: [{ connection: { remoteAddress: '10.0.0.8' } }] },
  // Envoy's CidrRange::isInRange: a range matches only addresses of its own family, and a dual-stack
  // socket's `::ffff:a.b.c.d` peer is IPv4 (Envoy's addressFromSockAddr). A `/0` range is emitted with
  // `prefix_len: {value: 0}`, as Istio does.
  { name: 'ipBlocks ::/0 (IPv6 callers only)', rule: from({ ipBlocks: ['::/0'] }), match: [{ connection: { remoteAddress: '2001:db8::1' } }], miss: [{}, { connection: { remoteAddress: '::ffff:10.0.0.9' } }] },
  { name: 'ipBlocks ::ffff:10.0.0.0/104 (an IPv6 range)', rule: from({ ipBlocks: ['::ffff:10.0.0.0/104'] }), match: [], miss: [{}, { connection: { remoteAddress: '::ffff:10.0.0.9' } }] },
  { name: 'ipBlocks 0.0.0.0/0 (IPv4 callers only)', rule: from({ ipBlocks: ['0.0.0.0/0'] }), match: [{}, { connection: { remoteAddress: '::ffff:10.0.0.9' } }], miss: [{ connection: { remoteAddress: '2001:db8::1' } }] },
  { name: 'remoteIpBlocks ::/0', rule: from({ remoteIpBlocks: ['::/0'] }), match: [{ connection: { remoteAddress: 'fd00::9' } }], miss: [{}, { metadata: { 'outrigger.remote_ip': { address: '203.0.113.7' } } }] },
  { name: 'notIpBlocks', rule: from({ notIpBlocks: ['10.0.0.0/24'] }), match: [{ connection: { remoteAddress: '192.168.0.1' } }], miss: [{}] },
  {
    name: 'remoteIpBlocks (trusted XFF result, never the raw header)',
    rule: from({ remoteIpBlocks: ['203.0.113.0/24'] }),
    match: [{ metadata: { 'outrigger.remote_ip': { address: '203.0.113.7' } } }],
    miss: [{ headers: { 'x-forwarded-for': '203.0.113.7' } }],
  },
  // An X-Forwarded-For entry keeps the family it was written in (Envoy parses XFF with v6only true): a
  // written `::ffff:10.0.0.9` is IPv6, so IPv6 ranges hold it and IPv4 ones do not; the socket's own
  // `::ffff:` peer, standing in when there is no trusted entry, is IPv4.
  {
    name: 'remoteIpBlocks ::ffff:10.0.0.0/104 (an XFF entry written mapped is IPv6)',
    rule: from({ remoteIpBlocks: ['::ffff:10.0.0.0/104'] }),
    match: [{ metadata: { 'outrigger.remote_ip': { address: '::ffff:10.0.0.9' } } }],
    miss: [{}, { connection: { remoteAddress: '::ffff:10.0.0.9' } }, { metadata: { 'outrigger.remote_ip': { address: '10.0.0.9' } } }],
  },
  { name: 'remoteIpBlocks ::/0 (an XFF entry written mapped)', rule: from({ remoteIpBlocks: ['::/0'] }), match: [{ metadata: { 'outrigger.remote_ip': { address: '::ffff:10.0.0.9' } } }], miss: [{ connection: { remoteAddress: '::ffff:10.0.0.9' } }] },
  {
    name: 'remoteIpBlocks 10.0.0.0/8 (the socket peer unmapped, an XFF entry as written)',
    rule: from({ remoteIpBlocks: ['10.0.0.0/8'] }),
    match: [{}, { connection: { remoteAddress: '::ffff:10.0.0.9' } }, { metadata: { 'outrigger.remote_ip': { address: '10.0.0.9' } } }],
    miss: [{ metadata: { 'outrigger.remote_ip': { address: '::ffff:10.0.0.9' } } }],
  },
  { name: 'notRemoteIpBlocks', rule: from({ notRemoteIpBlocks: ['10.0.0.0/8'] }), match: [{ connection: { remoteAddress: '192.168.1.1' } }], miss: [{}] },
  { name: 'hosts', rule: to({ hosts: ['secret.com'] }), match: [{ authority: 'secret.com' }, { authority: 'SECRET.com' }, { authority: 'secret.com:80' }, { authority: 'secret.com.' }, { authority: 'secret.com.:80' }], miss: [{ authority: 'public.com' }, { authority: 'secret.com.evil' }] },
  { name: 'hosts suffix', rule: to({ hosts: ['*.secret.com'] }), match: [{ authority: 'a.SECRET.com' }, { authority: 'a.secret.com:8080' }], miss: [{ authority: 'secret.com' }] },
  { name: 'hosts prefix', rule: to({ hosts: ['secret.*'] }), match: [{ authority: 'secret.org' }], miss: [{ authority: 'public.org' }] },
  // Istio's HostMatcher checks a leading `*` first too: `*admin*` is the suffix `admin*`, not the prefix `*admin`.
  { name: 'hosts *x* is a suffix', rule: to({ hosts: ['*admin*'] }), match: [{ authority: 'x.admin*' }, { authority: 'x.ADMIN*:8080' }], miss: [{ authority: '*admin.example.com' }, { authority: 'admin.example.com' }] },
  { name: 'methods *x* is a suffix', rule: to({ methods: ['*ET*'] }), match: [{ method: 'XET*' }], miss: [{ method: '*ETX' }, { method: 'GET' }] },
  { name: 'hosts with port', rule: to({ hosts: ['secret.com:8080'] }), match: [{ authority: 'secret.com:8080' }], miss: [{ authority: 'secret.com:9090' }] },
  { name: 'notHosts', rule: to({ notHosts: ['secret.com'] }), match: [{ authority: 'public.com' }], miss: [{ authority: 'Secret.Com:80' }] },
  { name: 'ports', rule: to({ ports: ['8000'] }), match: [{}], miss: [{ connection: { localPort: 9000 } }] },
  { name: 'notPorts', rule: to({ notPorts: ['8000'] }), match: [{ connection: { localPort: 9000 } }], miss: [{}] },
  { name: 'methods', rule: to({ methods: ['POST'] }), match: [{ method: 'POST' }], miss: [{ method: 'GET' }] },
  { name: 'notMethods', rule: to({ notMethods: ['GET', 'HEAD'] }), match: [{ method: 'DELETE' }], miss: [{ method: 'HEAD' }] },
  { name: 'paths exact, query ignored', rule: to({ paths: ['/admin'] }), match: [{ path: '/admin' }, { path: '/admin', query: 'x=1' }], miss: [{ path: '/admin/' }, { path: '/ADMIN' }] },
  { name: 'paths prefix', rule: to({ paths: ['/admin/*'] }), match: [{ path: '/admin/x/y' }], miss: [{ path: '/admin' }] },
  { name: 'paths suffix', rule: to({ paths: ['*.php'] }), match: [{ path: '/x/index.php' }], miss: [{ path: '/x/index.html' }] },
  // Istio's StringMatcherWithPrefix checks a leading `*` first: `*/v1*` is the suffix `/v1*`, literally.
  { name: 'paths *x* is a suffix', rule: to({ paths: ['*/v1*'] }), match: [{ path: '/api/v1*' }], miss: [{ path: '/api/v1/users' }, { path: '*/v1/users' }] },
  { name: 'paths {*}', rule: to({ paths: ['/api/{*}/admin'] }), match: [{ path: '/api/v1/admin' }], miss: [{ path: '/api/v1/v2/admin' }, { path: '/api//admin' }] },
  { name: 'paths {**}', rule: to({ paths: ['/api/{**}/admin'] }), match: [{ path: '/api/v1/v2/admin' }], miss: [{ path: '/other/v1/admin' }] },
  { name: 'notPaths', rule: to({ notPaths: ['/public/*'] }), match: [{ path: '/admin' }], miss: [{ path: '/public/x' }] },
];

const WHEN: Row[] = [
  { name: 'request.headers', rule: { when: [{ key: 'request.headers[X-Tenant]', values: ['prod'] }] }, match: [{ headers: { 'x-tenant': 'prod ' } }, { headers: { 'x-tenant': ['dev', 'prod'] } }], miss: [{ headers: { 'x-tenant': 'dev' } }, {}] },
  { name: 'request.headers notValues', rule: { when: [{ key: 'request.headers[x-tenant]', notValues: ['dev'] }] }, match: [{ headers: { 'x-tenant': 'prod' } }, {}], miss: [{ headers: { 'x-tenant': 'dev' } }] },
  // Istio's HeaderMatcher: `*` is present_match, so a header sent with an empty value is present too.
  { name: 'request.headers *', rule: { when: [{ key: 'request.headers[x-debug]', values: ['*'] }] }, match: [{ headers: { 'x-debug': '1' } }, { headers: { 'x-debug': '' } }], miss: [{}] },
  { name: 'request.headers notValues *', rule: { when: [{ key: 'request.headers[x-debug]', notValues: ['*'] }] }, match: [{}], miss: [{ headers: { 'x-debug': '' } }, { headers: { 'x-debug': '1' } }] },
  { name: 'source.ip', rule: { when: [{ key: 'source.ip', values: ['10.0.0.9'] }] }, match: [{}], miss: [{ connection: { remoteAddress: '10.0.0.8' } }] },
  { name: 'remote.ip', rule: { when: [{ key: 'remote.ip', notValues: ['10.0.0.0/8'] }] }, match: [{ connection: { remoteAddress: '11.0.0.1' } }], miss: [{}] },
  { name: 'source.namespace', rule: { when: [{ key: 'source.namespace', values: ['bar'] }] }, match: [{ connection: mtls(OTHER) }], miss: [{ connection: mtls(SLEEP) }, {}] },
  { name: 'source.namespace * inside', rule: { when: [{ key: 'source.namespace', notValues: ['f*o'] }] }, match: [{ connection: mtls(OTHER) }], miss: [{ connection: mtls(SLEEP) }] },
  { name: 'source.principal', rule: { when: [{ key: 'source.principal', notValues: ['cluster.local/ns/foo/sa/sleep'] }] }, match: [{ connection: mtls(OTHER) }], miss: [{ connection: mtls(SLEEP) }] },
  { name: 'request.auth.principal', rule: { when: [{ key: 'request.auth.principal', values: ['iss/alice'] }] }, match: [{ metadata: jwt('iss/alice') }], miss: [{ metadata: jwt('iss/bob') }] },
  { name: 'request.auth.audiences', rule: { when: [{ key: 'request.auth.audiences', values: ['app'] }] }, match: [{ metadata: jwt('i/s', { 'request.auth.audiences': ['web', 'app'] }) }], miss: [{ metadata: jwt('i/s', { 'request.auth.audiences': ['web'] }) }] },
  { name: 'request.auth.presenter', rule: { when: [{ key: 'request.auth.presenter', values: ['cli*'] }] }, match: [{ metadata: jwt('i/s', { 'request.auth.presenter': 'client-1' }) }], miss: [{ metadata: jwt('i/s') }] },
  { name: 'request.auth.claims', rule: { when: [{ key: 'request.auth.claims[groups]', values: ['admin'] }] }, match: [{ metadata: jwt('i/s', { 'request.auth.claims': { groups: ['dev', 'admin'] } }) }, { metadata: jwt('i/s', { 'request.auth.claims': { groups: 'admin' } }) }], miss: [{ metadata: jwt('i/s', { 'request.auth.claims': { groups: ['dev'] } }) }] },
  { name: 'request.auth.claims nested', rule: { when: [{ key: 'request.auth.claims[realm][role]', notValues: ['user'] }] }, match: [{ metadata: jwt('i/s', { 'request.auth.claims': { realm: { role: 'root' } } }) }], miss: [{ metadata: jwt('i/s', { 'request.auth.claims': { realm: { role: 'user' } } }) }] },
  { name: 'destination.ip', rule: { when: [{ key: 'destination.ip', values: ['10.0.0.0/30'] }] }, match: [{}], miss: [{ connection: { localAddress: '10.0.0.5' } }] },
  { name: 'destination.port', rule: { when: [{ key: 'destination.port', notValues: ['8000'] }] }, match: [{ connection: { localPort: 8001 } }], miss: [{}] },
  { name: 'connection.sni', rule: { when: [{ key: 'connection.sni', values: ['*.example.com'] }] }, match: [{ connection: { sni: 'a.example.com' } }], miss: [{ connection: { sni: 'example.org' } }, {}] },
  { name: 'experimental.envoy.filters [list]', rule: { when: [{ key: 'experimental.envoy.filters.http.lua[tiers]', values: ['[gold]'] }] }, match: [{ metadata: { 'envoy.filters.http.lua': { tiers: ['silver', 'gold'] } } }], miss: [{ metadata: { 'envoy.filters.http.lua': { tiers: ['silver'] } } }, {}] },
  { name: 'experimental.envoy.filters', rule: { when: [{ key: 'experimental.envoy.filters.http.lua[tier]', values: ['gold'] }] }, match: [{ metadata: { 'envoy.filters.http.lua': { tier: 'gold' } } }], miss: [{}] },
];

for (const row of [...ROWS, ...WHEN]) {
  test(`DENY ${row.name}`, () => {
    const p = [policy('deny', 'foo', { action: 'DENY', rules: [row.rule] })];
    for (const r of row.match) assert.equal(decideHttp(p, r).status, 403, `match ${JSON.stringify(r)}`);
    for (const r of row.miss) assert.equal(decideHttp(p, r).status, 200, `miss ${JSON.stringify(r)}`);
  });
  test(`ALLOW ${row.name}`, () => {
    const p = [policy('allow', 'foo', { action: 'ALLOW', rules: [row.rule] })];
    for (const r of row.match) assert.equal(decideHttp(p, r).status, 200, `match ${JSON.stringify(r)}`);
    for (const r of row.miss) assert.equal(decideHttp(p, r).status, 403, `miss ${JSON.stringify(r)}`);
  });
}

// Istio's envoyFilterGenerator: strings.SplitN(key, "[", 2), so `F[a][b]` is the single metadata key `a][b`.
test('experimental.envoy.filters.F[a][b] reads the one key "a][b", not the path a → b', () => {
  const p = policy('allow-alice', 'foo', { rules: [{ when: [{ key: 'experimental.envoy.filters.http.jwt_authn[payload][sub]', values: ['alice'] }] }] });
  assert.equal(decideHttp([p], { metadata: { 'envoy.filters.http.jwt_authn': { payload: { sub: 'alice' } } } }).status, 403);
  assert.equal(decideHttp([p], { metadata: { 'envoy.filters.http.jwt_authn': { 'payload][sub': 'alice' } } }).status, 200);
  const one = policy('one', 'foo', { rules: [{ when: [{ key: 'experimental.envoy.filters.http.jwt_authn[sub]', values: ['alice'] }] }] });
  assert.equal(decideHttp([one], { metadata: { 'envoy.filters.http.jwt_authn': { sub: 'alice' } } }).status, 200);
});
