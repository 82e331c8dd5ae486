// AuthorizationPolicy validation, ported from Istio's ValidateAuthorizationPolicy
// (pkg/config/validation/validation.go) and pkg/config/security (CheckEmptyValues, CheckServiceAccount,
// ValidateIPs, ValidatePorts, ValidateAttribute): each document Istio refuses yields its code at its
// field and is left out; the valid neighbours of each rule load clean.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../load.ts';
import { ipOrCidrProblem } from './ip.ts';

const doc = (spec: string, name = 'p') => `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${name}, namespace: foo}\nspec: ${spec}\n`;
const from = (source: string, action = 'ALLOW') => `{action: ${action}, rules: [{from: [{source: ${source}}]}]}`;
const to = (operation: string) => `{rules: [{to: [{operation: ${operation}}]}]}`;
const when = (cond: string, action = 'ALLOW') => `{action: ${action}, rules: [{when: [${cond}]}]}`;
const custom = (rules: string) => `{action: CUSTOM, provider: {name: ext}, rules: ${rules}}`;
const S = 'spec.rules[0].from[0].source';
const W = 'spec.rules[0].when[0]';
const O = 'spec.rules[0].to[0].operation';

const invalid: [spec: string, code: string, field: string][] = [
  // ValidateAttribute: the key.
  [when('{key: "request.header[x-tenant]", values: [prod]}', 'DENY'), 'OR1023', `${W}.key`],
  [when('{key: source.ipaddr, values: [1.2.3.4]}'), 'OR1023', `${W}.key`],
  [when('{key: "destination.labels[app]", values: [x]}'), 'OR1024', `${W}.key`],
  [when('{key: destination.namespace, values: [x]}'), 'OR1024', `${W}.key`],
  [when('{key: destination.user, values: [x]}'), 'OR1024', `${W}.key`],
  [when('{key: "request.headers[]", values: [x]}'), 'OR1024', `${W}.key`],
  [when('{key: request.auth.claims, values: [x]}'), 'OR1024', `${W}.key`],
  // Istio's prefix check lets it through; Outrigger's translation would not read it as a header.
  [when('{key: "request.headersx[a]", values: [x]}'), 'OR1024', `${W}.key`],
  [when('{key: "experimental.envoy.filters.http.jwt_authn", values: [x]}'), 'OR1024', `${W}.key`],
  [when('{key: "request.experimental.inline.headers[x-a]", values: [x]}'), 'OR1024', `${W}.key`],
  [when('{key: "", values: [x]}'), 'OR1024', `${W}.key`],
  // ... and its values.
  [when('{key: source.ip, values: ["10.0.0.300"]}', 'DENY'), 'OR1024', `${W}.values[0]`],
  [when('{key: remote.ip, notValues: ["10.0.0.0/33"]}'), 'OR1024', `${W}.notValues[0]`],
  [when('{key: destination.ip, values: [example.com]}'), 'OR1024', `${W}.values[0]`],
  [when('{key: destination.port, values: [http]}', 'DENY'), 'OR1028', `${W}.values[0]`],
  [when('{key: destination.port, values: ["70000"]}'), 'OR1028', `${W}.values[0]`],
  [when('{key: source.serviceAccount, values: ["foo/*"]}'), 'OR1024', `${W}.values[0]`],
  [when('{key: source.serviceAccount, values: ["a/b/c"]}'), 'OR1024', `${W}.values[0]`],
  [when('{key: "request.headers[x-a]", values: [a, ""]}'), 'OR1024', `${W}.values[1]`],
  [when('{key: source.namespace, values: []}'), 'OR1022', W],
  // Empty source, operation (an empty `from` or `to` list is unset, below).
  [from('{}'), 'OR1024', S],
  [from('{principals: []}'), 'OR1024', S],
  [to('{}'), 'OR1024', O],
  // ValidateIPs.
  [from('{ipBlocks: ["10.0.0.0/8", not-an-ip]}'), 'OR1024', `${S}.ipBlocks[1]`],
  [from('{ipBlocks: ["192.168.20.0/33"]}'), 'OR1024', `${S}.ipBlocks[0]`],
  [from('{ipBlocks: ["10.0.0.0/08"]}'), 'OR1024', `${S}.ipBlocks[0]`],
  [from('{notIpBlocks: ["010.0.0.1"]}'), 'OR1024', `${S}.notIpBlocks[0]`],
  [from('{remoteIpBlocks: ["2001:db8::/129"]}'), 'OR1024', `${S}.remoteIpBlocks[0]`],
  [from('{notRemoteIpBlocks: ["fe80::1%eth0/64"]}'), 'OR1024', `${S}.notRemoteIpBlocks[0]`],
  // ValidatePorts.
  [to('{ports: [http]}'), 'OR1028', `${O}.ports[0]`],
  [to('{notPorts: ["65536"]}'), 'OR1028', `${O}.notPorts[0]`],
  // CheckEmptyValues.
  [from('{principals: [""]}'), 'OR1024', `${S}.principals[0]`],
  [from('{notRequestPrincipals: ["*", ""]}'), 'OR1024', `${S}.notRequestPrincipals[1]`],
  [from('{namespaces: [""]}'), 'OR1024', `${S}.namespaces[0]`],
  [from('{ipBlocks: [""]}'), 'OR1024', `${S}.ipBlocks[0]`],
  [to('{hosts: [""]}'), 'OR1024', `${O}.hosts[0]`],
  [to('{methods: [GET, ""]}'), 'OR1024', `${O}.methods[1]`],
  [to('{notPaths: [""]}'), 'OR1024', `${O}.notPaths[0]`],
  [to('{ports: [""]}'), 'OR1024', `${O}.ports[0]`],
  // serviceAccounts: not with principals or namespaces; CheckServiceAccount.
  [from('{serviceAccounts: [sleep], principals: ["cluster.local/ns/foo/sa/x"]}'), 'OR1029', `${S}.serviceAccounts`],
  [from('{notServiceAccounts: [sleep], namespaces: [foo]}'), 'OR1029', `${S}.notServiceAccounts`],
  [from('{serviceAccounts: ["*"]}'), 'OR1024', `${S}.serviceAccounts[0]`],
  [from('{serviceAccounts: ["/sleep"]}'), 'OR1024', `${S}.serviceAccounts[0]`],
  [from('{notServiceAccounts: ["foo/"]}'), 'OR1024', `${S}.notServiceAccounts[0]`],
  [from('{serviceAccounts: [""]}'), 'OR1024', `${S}.serviceAccounts[0]`],
  [from(`{serviceAccounts: [${Array.from({ length: 17 }, (_, i) => `sa${i}`).join(', ')}]}`), 'OR1024', `${S}.serviceAccounts`],
  // CUSTOM.
  [custom('[{from: [{source: {principals: ["*"]}}]}]'), 'OR1024', `${S}.principals`],
  [custom('[{from: [{source: {requestPrincipals: ["*"]}}]}]'), 'OR1024', `${S}.requestPrincipals`],
  [custom('[{from: [{source: {notNamespaces: [bar]}}]}]'), 'OR1024', `${S}.notNamespaces`],
  [custom('[{from: [{source: {serviceAccounts: [sleep]}}]}]'), 'OR1024', `${S}.serviceAccounts`],
  [custom('[{when: [{key: source.principal, values: ["*"]}]}]'), 'OR1024', `${W}.key`],
  [custom('[{when: [{key: "request.auth.claims[iss]", values: [x]}]}]'), 'OR1024', `${W}.key`],
  ['{action: CUSTOM, provider: {name: ext}}', 'OR1022', 'spec.action'],
  ['{action: CUSTOM, provider: {name: ext}, rules: []}', 'OR1022', 'spec.action'],
  ['{action: CUSTOM, rules: [{}]}', 'OR1022', 'spec.action'],
  ['{action: CUSTOM, provider: {name: ""}, rules: [{}]}', 'OR1024', 'spec.provider.name'],
  ['{provider: {name: ext}, rules: [{}]}', 'OR1029', 'spec.provider'],
  ['{action: DENY, provider: {name: ext}, rules: [{}]}', 'OR1029', 'spec.provider'],
  // DENY needs rules.
  ['{action: DENY}', 'OR1022', 'spec.action'],
  ['{action: DENY, rules: []}', 'OR1022', 'spec.action'],
];

const valid: string[] = [
  '{}',
  '{rules: [{}]}',
  '{action: DENY, rules: [{}]}',
  '{action: AUDIT}',
  '{rules: [{when: []}]}',
  // Istio decodes `from: []` and `to: []` as unset, as it does `rules: []`.
  '{rules: [{from: [], to: [{operation: {methods: [GET]}}]}]}',
  '{rules: [{from: [{source: {namespaces: [foo]}}], to: []}]}',
  '{action: DENY, rules: [{from: [], to: []}]}',
  from('{ipBlocks: ["10.0.0.1", "10.0.0.0/8", "10.0.0.1/8", "0.0.0.0/0", "2001:db8::/32", "::ffff:10.0.0.1", "fe80::1%eth0"]}'),
  from('{notRemoteIpBlocks: ["192.168.0.0/16"], remoteIpBlocks: ["::/0"]}'),
  from('{serviceAccounts: [sleep, other/sleep], ipBlocks: ["10.0.0.0/8"], requestPrincipals: ["*"]}'),
  from('{notServiceAccounts: [sleep]}'),
  from('{principals: ["cluster.local/ns/foo/sa/x"], namespaces: [foo]}', 'DENY'),
  to('{ports: ["8080"], notPorts: ["9090"], methods: [GET], paths: ["/api/{**}"]}'),
  when('{key: "request.headers[x-tenant]", values: [prod]}', 'DENY'),
  when('{key: "request.auth.claims[groups][0]", values: [admin]}'),
  when('{key: "experimental.envoy.filters.http.jwt_authn[iss][sub]", values: ["[x]"]}'),
  when('{key: source.ip, values: ["10.0.0.0/8"], notValues: ["10.1.0.0/16"]}'),
  when('{key: destination.port, values: ["8080"]}'),
  when('{key: source.serviceAccount, values: [foo/sleep, sleep]}'),
  when('{key: connection.sni, notValues: ["*.example.com"]}'),
  when('{key: request.auth.audiences, values: [a]}'),
  custom('[{to: [{operation: {paths: [/admin]}}], from: [{source: {ipBlocks: ["10.0.0.0/8"]}}], when: [{key: "request.headers[x-a]", values: ["1"]}]}]'),
  custom('[{}]'),
];

test('AuthorizationPolicies Istio refuses: the code at the field, and the policy is not loaded', () => {
  for (const [spec, code, field] of invalid) {
    const { resources, diagnostics } = loadText(doc(spec), 'bad.yaml');
    const hit = diagnostics.find((d) => d.code === code && d.field === field);
    assert.ok(hit, `${spec}: want ${code} at ${field}; got ${diagnostics.map((d) => `${d.code}@${d.field}`).join(', ')}`);
    assert.ok(hit.span && hit.message && hit.fix, `${spec}: a span, a message and a fix`);
    assert.equal(resources.length, 0, spec);
  }
});

test('their valid neighbours load without diagnostics', () => {
  for (const spec of valid) {
    const { resources, diagnostics } = loadText(doc(spec), 'ok.yaml');
    assert.deepEqual(diagnostics.map((d) => `${d.code}@${d.field}: ${d.message}`), [], spec);
    assert.equal(resources.length, 1, spec);
  }
});

test('an unknown when key is placed on its value, with Istio\'s list of keys and a "did you mean"', () => {
  const text = doc(when('{key: "request.header[x-tenant]", values: [prod]}', 'DENY'));
  const [d, ...rest] = loadText(text, 'p.yaml').diagnostics;
  assert.equal(rest.length, 0);
  assert.match(d!.message, /^unknown attribute: request\.header\[x-tenant\]; supported keys: request\.headers\[NAME\], source\.ip, remote\.ip, /);
  assert.equal(d!.fix, 'did you mean "request.headers[x-tenant]"?');
  assert.equal(`${d!.span?.start.line}:${d!.span?.start.col}`, `4:${text.split('\n')[3]!.indexOf('"request.header[') + 1}`);
});

test('messages keep Istio\'s reasons', () => {
  const message = (spec: string) => loadText(doc(spec), 'p.yaml').diagnostics[0]?.message ?? '';
  assert.match(message(from('{}')), /^`from\.source` must not be empty/);
  assert.match(message(from('{principals: [""]}')), /^empty value not allowed, found in principals/);
  assert.match(message(from('{ipBlocks: ["1.2.3.4/33"]}')), /^bad CIDR range \(1\.2\.3\.4\/33\): prefix length out of range/);
  assert.match(message(when('{key: source.ip, values: [x]}')), /^invalid `value` for `key` source\.ip: bad IP address \(x\)/);
  assert.match(message(from('{serviceAccounts: [a], namespaces: [b]}')), /^cannot set serviceAccounts with namespaces or principals/);
  assert.match(message(custom('[{from: [{source: {notPrincipals: [x]}}]}]')), /^From\.NotPrincipals is currently not supported with CUSTOM action/);
  assert.match(message('{action: DENY}'), /^DENY action without `rules` is meaningless as it will never be triggered/);
  assert.match(message('{action: AUDIT, provider: {name: x}}'), /^`provider` must not be with non CUSTOM action, found AUDIT/);
  assert.match(message(when('{key: destination.user, values: [x]}')), /^deprecated attribute destination\.user: only supported in v1alpha1/);
  assert.match(message(when('{key: "request.headers[]", values: [x]}')), /^bad key \(request\.headers\[\]\): should have format a\[b\]/);
  assert.match(message(when('{key: "request.headersx[a]", values: [x]}')), /^key request\.headersx\[a\] is not of the form request\.headers\[NAME\]/);
  assert.match(message(to('{ports: [""]}')), /^empty value not allowed/);
});

test('a policy that fails validation is left out; the documents around it still load', () => {
  const text = [doc('{rules: [{from: [{source: {ipBlocks: ["192.168.20.0/33"]}}]}]}', 'bad'), doc('{rules: [{}]}', 'good')].join('---\n');
  const { resources, diagnostics } = loadText(text, 'two.yaml');
  assert.deepEqual(
    resources.map((r) => r.metadata.name),
    ['good'],
  );
  assert.deepEqual(
    diagnostics.map((d) => `${d.code} ${d.resource} ${d.field}`),
    ['OR1024 AuthorizationPolicy foo/bad spec.rules[0].from[0].source.ipBlocks[0]'],
  );
});

test("ipOrCidrProblem: Go's netip.ParseAddr / ParsePrefix, as Istio's ValidateIPs", () => {
  for (const ok of ['1.2.3.4', '0.0.0.0/0', '10.0.0.1/8', '::', '::1/128', '2001:db8::/32', '::ffff:1.2.3.4', '::ffff:1.2.3.4/96', 'fe80::1%eth0']) {
    assert.equal(ipOrCidrProblem(ok), undefined, ok);
  }
  const bad: [string, RegExp][] = [
    ['', /^bad IP address \(\)$/],
    ['1.2.3', /^bad IP address/],
    ['01.2.3.4', /^bad IP address/],
    ['1.2.3.4/', /bad bits after slash/],
    ['1.2.3.4/+8', /bad bits after slash/],
    ['1.2.3.4/-0', /bad bits after slash/],
    ['1.2.3.4/08', /bad bits after slash/],
    ['1.2.3.4/33', /prefix length out of range/],
    ['::/129', /prefix length out of range/],
    ['fe80::1%eth0/64', /IPv6 zones cannot be present in a prefix/],
    ['/8', /is not an IP address/],
    ['1.2.3.4/8/8', /is not an IP address/],
  ];
  for (const [v, want] of bad) assert.match(ipOrCidrProblem(v) ?? '', want, v);
});

test('istio.io/dry-run: only on ALLOW and DENY, its value one Go\'s strconv.ParseBool reads (checkDryRunAnnotation)', () => {
  const annotated = (spec: string, value: string) =>
    `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: foo, annotations: {istio.io/dry-run: "${value}"}}\nspec: ${spec}\n`;
  for (const value of ['1', 't', 'T', 'TRUE', 'true', 'True', '0', 'f', 'F', 'FALSE', 'false', 'False']) {
    for (const spec of ['{rules: [{}]}', '{action: DENY, rules: [{}]}']) {
      const r = loadText(annotated(spec, value), 'ok.yaml');
      assert.deepEqual(r.diagnostics.map((d) => d.message), [], `${value} ${spec}`);
      assert.equal(r.resources.length, 1);
    }
  }
  for (const value of ['yes', 'on', 'tRUE', '', ' true']) {
    const r = loadText(annotated('{action: DENY, rules: [{}]}', value), 'bad.yaml');
    assert.deepEqual(r.diagnostics.map((d) => `${d.code}@${d.field}`), ['OR1024@metadata.annotations.istio.io/dry-run'], value);
    assert.match(r.diagnostics[0]!.message, /invalid value/);
    assert.equal(r.resources.length, 0);
  }
  for (const spec of ['{action: CUSTOM, provider: {name: ext}, rules: [{}]}', '{action: AUDIT, rules: [{}]}']) {
    const r = loadText(annotated(spec, 'true'), 'bad.yaml');
    assert.equal(r.resources.length, 0, spec);
    assert.match(r.diagnostics[0]?.message ?? '', /^the annotation istio\.io\/dry-run currently only supports action ALLOW\/DENY, found action (CUSTOM|AUDIT)/);
  }
});
