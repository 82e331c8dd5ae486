// The verification suite against a fake mesh on real sockets, found through a real state file: every
// check passes on a healthy mesh and each one fails, with its reason, when its part misbehaves.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { readState, writeState } from '../../src/runtime/state.ts';
import { type VerifySettings, versionOf } from '../../src/verify/check.ts';
import { mtlsBetweenSidecars, splitTolerance } from '../../src/verify/checks/traffic.ts';
import { formatVerifyText, runVerify } from '../../src/verify/run-verify.ts';
import { type FakeMeshOptions, startFakeMesh } from './fake-mesh.ts';

async function verifyAgainst(o: FakeMeshOptions, now?: () => number, settings: Partial<VerifySettings> = {}) {
  const mesh = await startFakeMesh(o);
  const dir = mkdtempSync(path.join(tmpdir(), 'outrigger-verify-'));
  try {
    writeState(dir, mesh.state);
    const state = readState(dir);
    assert.ok(state);
    return await runVerify(state, { settings: { timeoutMs: 2000, ...settings }, ...(now ? { now } : {}) });
  } finally {
    await mesh.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const byName = (r: Awaited<ReturnType<typeof verifyAgainst>>, re: RegExp) => r.checks.filter((c) => re.test(c.name));

test('a healthy mesh passes every check', async () => {
  const r = await verifyAgainst({});
  const failed = r.checks.filter((c) => c.status !== 'PASS');
  assert.deepEqual(failed, []);
  assert.equal(r.passed, true);
  assert.match(byName(r, /traffic split/)[0]?.detail ?? '', /stable 90, canary 10 of 100/);
  assert.match(byName(r, /mTLS/)[0]?.detail ?? '', /spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/mesh-test-runner/);
  assert.equal(byName(r, /workload certificate/).length, 2);
  assert.match(formatVerifyText(r), /RESULT: PASS \(\d+ checks passed\)/);
});

test('each misbehaving part fails its own check, with the reason', async () => {
  const r = await verifyAgainst({ staleProxy: true, canaryEvery: 0, headerIgnored: true, noXfcc: true, appDenies: true, noMetrics: true });
  assert.equal(r.passed, false);
  const status = (re: RegExp) => byName(r, re).map((c) => c.status);
  assert.match(byName(r, /SYNCED/)[0]?.detail ?? '', /mesh-test-runner-0\.istio-system LDS STALE \(NACK: unknown filter\)/);
  assert.match(byName(r, /mTLS/)[0]?.detail ?? '', /no x-forwarded-client-cert/);
  assert.match(byName(r, /traffic split/)[0]?.detail ?? '', /stable 100, canary 0 of 100.*outside the tolerance/);
  assert.deepEqual(status(/X-Canary/), ['FAIL']);
  // An app's own 403 is not the policy's denial.
  assert.deepEqual(status(/is denied/), ['FAIL', 'FAIL', 'FAIL']);
  assert.deepEqual(status(/health check/), ['PASS', 'PASS']);
  assert.match(byName(r, /metrics/)[0]?.detail ?? '', /no metrics in the answer/);
  assert.match(formatVerifyText(r), /RESULT: FAIL/);
});

test('a root expiring within 30 days fails; workload certificates are judged on the same clock', async () => {
  const r = await verifyAgainst({ rootDays: 20 });
  assert.deepEqual(byName(r, /root CA/).map((c) => c.status), ['FAIL']);
  assert.deepEqual(byName(r, /workload certificate/).map((c) => c.status), ['PASS', 'PASS']);
  const later = await verifyAgainst({}, () => Date.now() + 2 * 86_400_000);
  assert.deepEqual(byName(later, /workload certificate/).map((c) => [c.status, /expired/.test(c.detail)]), [
    ['FAIL', true],
    ['FAIL', true],
  ]);
});

test('the split tolerance is three binomial standard deviations', () => {
  assert.equal(splitTolerance(100, 10), 9);
  assert.equal(splitTolerance(1000, 10), 29);
  assert.equal(splitTolerance(10, 0), 2);
});

test('the answering version is read from podinfo’s message', () => {
  assert.equal(versionOf('{"message":"podinfo canary"}'), 'canary');
  assert.equal(versionOf('{"message":"podinfo stable","hostname":"canary-host"}'), 'stable');
  assert.equal(versionOf('no idea'), undefined);
});

test('a split within the tolerance that never reached the canary says so, not "outside the tolerance"', async () => {
  // 50 requests: 5 ± 7 expected, so 0 is within the tolerance; the canary was still never seen.
  const r = await verifyAgainst({ canaryEvery: 0 }, undefined, { splitRequests: 50 });
  const split = r.checks.find((c) => /traffic split/.test(c.name));
  assert.equal(split?.status, 'FAIL');
  assert.match(split?.detail ?? '', /canary 0 of 50 \(expected canary 5 ± 7\): no request reached the canary$/);
});

test('answers without a body are said as such, counted once each, not left as empty details', async () => {
  // A Host no Gateway serves: the ingress answers every request with its no-route 404, bodiless.
  const r = await verifyAgainst({}, undefined, { ingressHost: 'foo.com', splitRequests: 20 });
  const split = byName(r, /traffic split/)[0]?.detail ?? '';
  assert.equal(split, 'stable 0, canary 0 of 20 (expected canary 2 ± 5); 20 other answers: 20 × HTTP 404 with an empty body (the gateway has no route for Host foo.com: is it among a Gateway\'s hosts and a VirtualService\'s? --ingress-host names it)');
  assert.equal(
    byName(r, /X-Canary/)[0]?.detail,
    "20 of 20 missed the canary: 20 × HTTP 404 with an empty body (the gateway has no route for Host foo.com: is it among a Gateway's hosts and a VirtualService's? --ingress-host names it) (first: request 1)",
  );
  const denial = byName(r, /DELETE through the ingress/)[0]?.detail ?? '';
  assert.equal(denial, "HTTP 404 with an empty body (the gateway has no route for Host foo.com: is it among a Gateway's hosts and a VirtualService's? --ingress-host names it), want 403 with the RBAC flag");
  for (const c of r.checks) assert.doesNotMatch(c.detail, /(: |; )$/, c.name);
});

test('a sidecar that refuses the call: the detail says the URL and the port it went through, apart', async () => {
  const mesh = await startFakeMesh({});
  try {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const state = { ...mesh.state, components: mesh.state.components.map((c) => (c.ports['proxy:15001'] === undefined ? c : { ...c, ports: { ...c.ports, 'proxy:15001': port } })) };
    const [result] = await runVerify(state, { settings: { timeoutMs: 2000 }, checks: [mtlsBetweenSidecars] }).then((r) => r.checks);
    assert.equal(result?.status, 'FAIL');
    assert.equal(result?.detail, `http://podinfo.podinfo:9898/headers through 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
  } finally {
    await mesh.close();
  }
});
