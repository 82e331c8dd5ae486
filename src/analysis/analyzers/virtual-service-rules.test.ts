// IST0130/IST0131 as Istio's validation reports them (analyzeUnreachableHTTPRules, TCPRules, TLSRules),
// with Istio's rule and match names and message texts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { runAnalyzers } from '../run.ts';

const findings = (spec: string) =>
  runAnalyzers(
    loadText(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
${spec}`, 'vs.yaml').resources,
  )
    .filter((d) => d.code === 'IST0130' || d.code === 'IST0131')
    .map((d) => `${d.code} ${d.field}: ${d.message}`);

const to = 'route: [{destination: {host: reviews}}]';

test('a second rule without matches: "#n" names an unnamed rule', () => {
  assert.deepEqual(findings(`  http:\n  - ${to}\n  - ${to}\n`), ['IST0130 spec.http[1]: VirtualService rule #1 not used (only the last rule can have no matches).']);
});

test('a wholly repeated rule: IST0131 for each match and IST0130 for the rule', () => {
  const spec = `  http:\n  - name: a\n    match: [{uri: {exact: /x}}]\n    ${to}\n  - name: b\n    match: [{uri: {exact: /x}, name: again}]\n    ${to}\n`;
  assert.deepEqual(findings(spec), [
    'IST0131 spec.http[1].match[0]: VirtualService rule "b" match "again" is not used (duplicate/overlapping match in rule "a").',
    'IST0130 spec.http[1]: VirtualService rule "b" not used (all matches used by prior rules).',
  ]);
});

test('a rule after one without matches', () => {
  const spec = `  http:\n  - ${to}\n  - match: [{uri: {exact: /a}}, {uri: {exact: /b}}]\n    ${to}\n`;
  assert.deepEqual(findings(spec), ['IST0130 spec.http[1]: VirtualService rule #1 not used (route without matches defined before).']);
});

test('a uri prefix an earlier prefix covers (coveredValidation)', () => {
  const spec = `  http:\n  - name: api\n    match: [{uri: {prefix: /api}}]\n    ${to}\n  - name: api-v1\n    match: [{uri: {prefix: /api/v1}}]\n    ${to}\n`;
  assert.deepEqual(findings(spec), [
    'IST0131 spec.http[1].match[0]: VirtualService rule "api-v1" match #0 of prefix /api/v1 is not used (duplicate/overlapping match in rule #0 of prefix /api on "api").',
  ]);
  // A header the later match adds makes it narrower, not covered; so does another port.
  const narrower = `  http:\n  - match: [{uri: {prefix: /api}}]\n    ${to}\n  - match: [{uri: {prefix: /api/v1}, headers: {x: {exact: y}}}]\n    ${to}\n`;
  assert.deepEqual(findings(narrower), []);
});

test('TCP and TLS rules are analysed too', () => {
  assert.deepEqual(findings(`  tcp:\n  - ${to}\n  - ${to}\n`), ['IST0130 spec.tcp[1]: VirtualService rule #1 not used (only the last rule can have no matches).']);
  const tls = `  tls:\n  - match: [{sniHosts: [reviews]}]\n    ${to}\n  - match: [{sniHosts: [reviews]}]\n    ${to}\n`;
  assert.deepEqual(findings(tls), [
    'IST0131 spec.tls[1].match[0]: VirtualService rule #1 match #0 is not used (duplicate/overlapping match in rule #0).',
    'IST0130 spec.tls[1]: VirtualService rule #1 not used (all matches used by prior rules).',
  ]);
});
