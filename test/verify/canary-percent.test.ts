// The split the traffic check expects comes from the configuration in force: the seed's 90/10, and what
// a promotion (the seed README's 75/25) changes it to.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { canaryPercent as percentIn, gatewayHost as hostIn, meshResources } from '../../src/verify/gateway-host.ts';

const gatewayHost = (dirs: string[]) => hostIn(meshResources(dirs));
const canaryPercent = (dirs: string[], host: string) => percentIn(meshResources(dirs), host);

const seed = path.resolve(import.meta.dirname, '../../examples/seed');

test("the seed's ingress host and its canary share", () => {
  const host = gatewayHost([seed]);
  assert.equal(host, 'podinfo.example.com');
  assert.equal(canaryPercent([seed], host as string), 10);
});

test('after the 75/25 promotion the check expects 25 %', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-verify-split-'));
  try {
    cpSync(seed, dir, { recursive: true });
    const file = path.join(dir, '02-traffic-management.yaml');
    const text = readFileSync(file, 'utf8');
    const promoted = text.replace('weight: 90', 'weight: 75').replace('weight: 10', 'weight: 25');
    assert.notEqual(promoted, text);
    writeFileSync(file, promoted);
    assert.equal(canaryPercent([dir], 'podinfo.example.com'), 25);
    assert.equal(canaryPercent([dir], 'other.example.com'), undefined, 'no VirtualService for that host');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a rule every request reaches before the split decides: all to stable, or a catch-all prefix', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-verify-dead-split-'));
  const vs = (rules: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: p, namespace: podinfo}
spec:
  hosts: [podinfo.example.com]
  http:
${rules}`;
  const split = '    - route: [{destination: {host: p, subset: stable}, weight: 90}, {destination: {host: p, subset: canary}, weight: 10}]\n';
  try {
    writeFileSync(path.join(dir, 'vs.yaml'), vs(`    - route: [{destination: {host: p, subset: stable}}]\n${split}`));
    assert.equal(canaryPercent([dir], 'podinfo.example.com'), 0, 'the split after it is never reached');
    const headerRule = '    - match: [{headers: {x-canary: {exact: "true"}}}]\n      route: [{destination: {host: p, subset: canary}}]\n';
    const prefixSplit = '    - match: [{uri: {prefix: /}}]\n      route: [{destination: {host: p, subset: stable}, weight: 90}, {destination: {host: p, subset: canary}, weight: 10}]\n';
    writeFileSync(path.join(dir, 'vs.yaml'), vs(headerRule + prefixSplit));
    assert.equal(canaryPercent([dir], 'podinfo.example.com'), 10, 'a header rule is skipped; a catch-all prefix is not');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
