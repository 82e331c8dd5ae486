// Table tests for the scalar rules every schema shares.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type * as z from 'zod';
import { duration, headerNameProblem, port, regexProblem } from './common.ts';
import { dnsNameProblem } from './metadata.ts';

function codes(result: z.ZodSafeParseResult<unknown>): string[] {
  if (result.success) return [];
  return result.error.issues.map((i) => (i as { params?: { code?: string } }).params?.code ?? 'zod');
}

test('durations: Go syntax, at least 1ms', () => {
  const table: [string, string[]][] = [
    ['2s', []],
    ['100ms', []],
    ['1m30s', []],
    ['1.5s', []],
    ['1h', []],
    ['1ms', []],
    ['500us', ['OR1025']],
    ['0s', ['OR1025']],
    ['2', ['OR1025']],
    ['2 s', ['OR1025']],
    ['', ['OR1025']],
    ['-1s', ['OR1025']],
  ];
  for (const [text, want] of table) assert.deepEqual(codes(duration.safeParse(text)), want, text);
});

test('regexes: RE2 syntax and Envoy program size', () => {
  assert.equal(regexProblem('^/api/v[0-9]+/.*'), undefined);
  assert.equal(regexProblem('(?i)^/Static/(?P<file>.+)$'), undefined);
  assert.match(regexProblem('(?<=a)b') ?? '', /invalid RE2/);
  assert.match(regexProblem('(a)\\1') ?? '', /invalid RE2/);
  // Istio's bootstrap allows program size 32768 (Envoy's default of 100 would refuse this one).
  assert.equal(regexProblem('/api/v[0-9]+/(users|orders|products)/[a-z0-9-]{1,36}'), undefined);
  assert.match(regexProblem('[a-z]{1000}'.repeat(40)) ?? '', /program size 40002 exceeds 32768/);
  assert.match(regexProblem('a'.repeat(1025)) ?? '', /limit is 1024/);
});

test('header names: tokens; lower case where Istio matches', () => {
  assert.equal(headerNameProblem('x-canary', true), undefined);
  assert.equal(headerNameProblem(':authority', true), undefined);
  assert.equal(headerNameProblem('X-Canary', false), undefined);
  assert.match(headerNameProblem('X-Canary', true) ?? '', /lower case \("x-canary"\)/);
  assert.match(headerNameProblem('x canary', false) ?? '', /not a valid HTTP header name/);
  assert.match(headerNameProblem('', false) ?? '', /not a valid/);
});

test('ports: integers 1..65535', () => {
  const table: [unknown, string[]][] = [
    [1, []],
    [65535, []],
    [0, ['OR1028']],
    [65536, ['OR1028']],
    [80.5, ['zod']],
    ['80', ['zod']],
  ];
  for (const [value, want] of table) assert.deepEqual(codes(port.safeParse(value)), want, String(value));
});

test('DNS-1123 names: labels and subdomains', () => {
  assert.equal(dnsNameProblem('podinfo-stable', true), undefined);
  assert.equal(dnsNameProblem('tls.podinfo', false), undefined);
  assert.match(dnsNameProblem('tls.podinfo', true) ?? '', /DNS-1123 label/);
  assert.match(dnsNameProblem('Podinfo', false) ?? '', /DNS-1123 subdomain/);
  assert.match(dnsNameProblem('-x', true) ?? '', /DNS-1123/);
  assert.match(dnsNameProblem('a'.repeat(64), true) ?? '', /longer than 63/);
  assert.match(dnsNameProblem('', false) ?? '', /empty/);
});
