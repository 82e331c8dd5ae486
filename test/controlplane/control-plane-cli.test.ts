// `outrigger control-plane` as a user runs it: a real process with a kept CA, its lifetimes from
// istiod's environment in the IstioOperator. A token from `outrigger token` gets a certificate over
// the real CSR service with the default lifetime; a TTL above the maximum is refused; the root's
// expiry is on /metrics; SIGTERM ends it cleanly.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createCsrClient } from '../../src/proxy/tls/csr-client.ts';
import { createWorkloadCsr } from '../../src/proxy/tls/workload-csr.ts';

const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../bin/outrigger.mjs');
const env = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', OUTRIGGER_FROM_SOURCE: '1' };

test('the control-plane command issues certificates with the IstioOperator lifetimes and stops on SIGTERM', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-cp-run-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    path.join(dir, 'mesh.yaml'),
    `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: mesh, namespace: istio-system }
spec:
  meshConfig: { trustDomain: example.test }
  values: { pilot: { env: { DEFAULT_WORKLOAD_CERT_TTL: 2h, MAX_WORKLOAD_CERT_TTL: 48h } } }
`,
  );
  const caDir = path.join(dir, 'ca');
  const cp = spawn(process.execPath, [bin, 'control-plane', '-f', dir, '--ca-dir', caDir, '--xds-port', '0', '--xds-tls-port', '0', '--debug-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let log = '';
  const exited = new Promise<number | null>((resolve) => cp.once('exit', resolve));
  t.after(() => {
    if (cp.exitCode === null) cp.kill('SIGKILL');
  });
  const started = new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`control plane not up within 60 s:\n${log}`)), 60_000);
    const onData = (d: Buffer) => {
      log += d.toString();
      const m = /control plane: xDS (127\.0\.0\.1:\d+), debug http:\/\/(127\.0\.0\.1:\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    cp.stdout.on('data', onData);
    cp.stderr.on('data', onData);
    cp.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`control plane exited early (${code ?? signal}):\n${log}`));
    });
  });
  const [, xds, debug] = await started;

  const token = execFileSync(process.execPath, [bin, 'token', '--ca-dir', caDir, '-n', 'shop', '--service-account', 'api', '--workload', 'api'], { env }).toString().trim();
  // A service account that is no DNS name makes no token: its SPIFFE ID would read as another namespace's.
  const forged = spawnSync(process.execPath, [bin, 'token', '--ca-dir', caDir, '-n', 'shop', '--service-account', 'x/ns/istio-system/sa/istiod', '--workload', 'api'], { env });
  assert.equal(forged.status, 64);
  assert.match(forged.stderr.toString(), /--service-account: "x\/ns\/istio-system\/sa\/istiod" is not a DNS-1123 subdomain/);
  assert.equal(forged.stdout.toString(), '');
  const csr = createCsrClient({ address: xds as string, token: () => token });
  t.after(() => csr.close());
  const { csrPem } = await createWorkloadCsr('spiffe://example.test/ns/shop/sa/api');

  // No TTL asked: DEFAULT_WORKLOAD_CERT_TTL, in the configured trust domain.
  const [leafPem] = await csr.sign(csrPem, 0);
  const leaf = new X509Certificate(leafPem as string);
  assert.equal(leaf.subjectAltName, 'URI:spiffe://example.test/ns/shop/sa/api');
  const lifetimeS = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 1000;
  // validFrom is backdated a little against clock skew, as istiod does; the lifetime is 2 h from issue.
  assert.ok(lifetimeS >= 2 * 3600 && lifetimeS <= 2 * 3600 + 600, `lifetime ${lifetimeS} s`);

  // Above MAX_WORKLOAD_CERT_TTL: refused, as istiod refuses it.
  await assert.rejects(csr.sign(csrPem, 72 * 3600), (err: Error & { grpcCode?: number }) => err.grpcCode === 3 && /greater than the max allowed TTL/.test(err.message));

  const metrics = await (await fetch(`http://${debug}/metrics`)).text();
  const expiry = /^citadel_server_root_cert_expiry_timestamp (\d+(?:\.\d+)?)/m.exec(metrics);
  assert.ok(expiry, 'root expiry exported');
  assert.ok(Number(expiry[1]) > Date.now() / 1000, 'in the future');

  cp.kill('SIGTERM');
  assert.equal(await exited, 0, log);
});
