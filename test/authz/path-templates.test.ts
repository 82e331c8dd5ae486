// `{*}` / `{**}` path templates: Istio's validation (bad templates are config errors at their place) and
// the matching semantics of the emitted matcher, decided by the proxy's RBAC engine (DENY: match = 403).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import { pathTemplateProblem } from '../../src/config/schema/path-template.ts';
import { translateAuthorization } from '../../src/translate/authorization.ts';
import { decideHttp, policy, TARGET } from './simulate.ts';

// Istio's own table (pkg/config/security TestCheckValidPathTemplate), plus plain paths untouched.
const VALID = ['/{*}/foo', '/{*}/foo/', '/foo/{**}/bar', '/foo/bar/{**}', '/{*}/{*}/{**}', '/a:b@c=d/{*}', '/admin*', '*/admin', '*', '/exact'];
const INVALID: [string, RegExp][] = [
  ['/foo/{**}buzz/bar', /outside a \{\*\} or \{\*\*\} operator/],
  ['/{*}/foo/{}/bar', /outside/],
  ['/foo/{*}/bar/*', /not a valid literal/],
  ['/foo/{*}/bar/**/buzz', /not a valid literal/],
  ['/foo/{buzz}/bar', /named variables/],
  ['/{buzz}', /named variables/],
  ['/foo/{buzz=*}/bar/{**}', /outside/],
  ['/{*}/foo/{**}bar', /outside/],
  ['/{*}/foo/{*}.txt', /outside/],
  ['/{*}/foo/{temp', /outside/],
  ['/{*}/foo/temp}/bar', /outside/],
  ['/{**}/foo/temp/{*}/bar', /last operator/],
  ['/{**}/{**}', /last operator/],
  ['/{**}/foo/temp/{**}/bar', /last operator/],
  ['/{*}/foo/?abc', /not a valid literal/],
  ['/{*}//foo', /^segment "" is not a valid literal/],
];

test('validation follows Istio: valid templates and plain paths pass', () => {
  for (const p of VALID) assert.equal(pathTemplateProblem(p), null, p);
});

test('validation follows Istio: each invalid template is refused with its reason', () => {
  for (const [p, why] of INVALID) assert.match(pathTemplateProblem(p) ?? 'accepted', why, p);
});

test('an invalid template is a located config error (OR1024 on the path) and the policy is left out', () => {
  const yaml = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-admin, namespace: foo }
spec:
  action: DENY
  rules:
  - to:
    - operation:
        notPaths: ["/public/{*}"]
        paths: ["/api/{**}/{*}"]
`;
  const { resources, diagnostics } = loadText(yaml, 'policy.yaml');
  assert.equal(resources.length, 0);
  assert.equal(diagnostics.length, 1);
  const d = diagnostics[0]!;
  assert.equal(d.code, 'OR1024');
  assert.equal(d.field, 'spec.rules[0].to[0].operation.paths[0]');
  assert.deepEqual([d.span?.start.line, d.span?.start.col], [10, 17]);
  assert.match(d.message, /\{\*\*\} must be the last operator/);
});

// template → requests that match (denied) and that do not (allowed), as Envoy's uri_template matcher decides:
// `{*}` is one or more pchar without `/`; `{**}` is zero or more pchar including `/`.
const TABLE: [string, string[], string[]][] = [
  ['/foo/{*}', ['/foo/bar', '/foo/a%20b', "/foo/a:b@c=d!$&'()+,;"], ['/foo', '/foo/', '/foo/bar/', '/foo/bar/baz', '/foo//', '/foo/a*b', '/FOO/bar']],
  ['/{*}/foo', ['/x/foo'], ['//foo', '/x/y/foo', '/x/foo/', '/foo']],
  ['/foo/{**}', ['/foo/', '/foo/a', '/foo/a/b/c', '/foo/a/b/'], ['/foo', '/foobar', '/bar/foo/a']],
  ['/foo/{**}/bar', ['/foo//bar', '/foo/x/bar', '/foo/x/y/bar'], ['/foo/bar', '/foo/x/bar/', '/foo/x/baz']],
  ['/{*}/{**}', ['/a/', '/a/b/c'], ['/a', '//b']],
  ['/v1/{*}/items/{*}', ['/v1/users/items/7'], ['/v1/users/items', '/v1/users/x/items/7', '/v1//items/7']],
  ['/a.b/{*}', ['/a.b/c'], ['/aXb/c']],
];

test('matching: {*} is exactly one non-empty segment, {**} any run of segments, literals are literal', () => {
  for (const [template, match, miss] of TABLE) {
    const deny = [policy('deny-t', 'foo', { action: 'DENY', rules: [{ to: [{ operation: { paths: [template] } }] }] })];
    for (const path of match) assert.equal(decideHttp(deny, { path }).status, 403, `${template} should match ${path}`);
    for (const path of miss) assert.equal(decideHttp(deny, { path }).status, 200, `${template} should not match ${path}`);
  }
});

test('matching: the query is not part of the path; notPaths is the exact complement', () => {
  const deny = [policy('deny-t', 'foo', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/foo/{*}'] } }] }] })];
  assert.equal(decideHttp(deny, { path: '/foo/bar', query: 'x=/y/z' }).status, 403);
  const not = [policy('deny-not', 'foo', { action: 'DENY', rules: [{ to: [{ operation: { notPaths: ['/foo/{*}'] } }] }] })];
  assert.equal(decideHttp(not, { path: '/foo/bar' }).status, 200);
  assert.equal(decideHttp(not, { path: '/foo/bar/baz' }).status, 403);
});

test('the emitted matcher is an anchored RE2 safe_regex with Envoy uri_template character classes', () => {
  const deny = policy('deny-t', 'foo', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/v1/{*}/x.y/{**}'] } }] }] });
  const rbac = translateAuthorization([deny], TARGET).http[0]!.typed_config;
  const text = JSON.stringify(rbac);
  const regex = /"regex":"((?:[^"\\]|\\.)*)"/.exec(text)?.[1];
  assert.equal(JSON.parse(`"${regex}"`), "/v1/[a-zA-Z0-9\\-._~%!$&'()+,;:@=]+/x\\.y/[a-zA-Z0-9\\-._~%!$&'()+,;:@=/]*");
});
