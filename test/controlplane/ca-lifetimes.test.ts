// `outrigger up`'s control plane runs its CA with the lifetimes istiod's environment in the IstioOperator
// sets: the root it makes, and over the real CSR service, the maximum a proxy may ask for. Bad settings
// stop it before any port is bound.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { CaConfigError } from '../../src/ca/ca-error.ts';
import { x509 } from '../../src/ca/x509.ts';
import { loadText } from '../../src/config/load-text.ts';
import { createCsrClient } from '../../src/proxy/tls/csr-client.ts';
import { createWorkloadCsr } from '../../src/proxy/tls/workload-csr.ts';
import { startLocalControlPlane } from '../../src/runtime/start-control-plane.ts';

const HOUR = 3600;

const operator = (env: string) =>
  loadText(
    `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: control-plane, namespace: istio-system }
spec:
  meshConfig: { defaultConfig: { proxyMetadata: { SECRET_TTL: 24h } } }
  values:
    pilot:
      env:
${env}`,
    'mesh.yaml',
  ).resources;

test("the local control plane's CA makes its root for CITADEL_SELF_SIGNED_CA_CERT_TTL and refuses a CSR above MAX_WORKLOAD_CERT_TTL", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'or-ca-lifetimes-'));
  const resources = operator('        MAX_WORKLOAD_CERT_TTL: 48h\n        CITADEL_SELF_SIGNED_CA_CERT_TTL: 8760h\n');
  const cp = await startLocalControlPlane({ configDirs: [], resources, stateDir: dir, xdsPort: 0, xdsTlsPort: 0, debugPort: 0, dashboardPort: 0 });
  const id = { namespace: 'podinfo', serviceAccount: 'podinfo', workload: 'podinfo-0' };
  const client = createCsrClient({ address: cp.xdsAddress, token: () => cp.issueBootstrapToken(id) });
  try {
    assert.ok(cp.rootCertFile);
    const root = new x509.X509Certificate(readFileSync(cp.rootCertFile, 'utf8'));
    assert.equal((root.notAfter.getTime() - root.notBefore.getTime()) / 1000, 8760 * HOUR + 60, 'a year, backdated a minute');
    const { csrPem } = await createWorkloadCsr('spiffe://cluster.local/ns/podinfo/sa/podinfo');
    const leaf = new x509.X509Certificate((await client.sign(csrPem, 48 * HOUR))[0]!);
    assert.equal((leaf.notAfter.getTime() - leaf.notBefore.getTime()) / 1000, 48 * HOUR + 60);
    await assert.rejects(client.sign(csrPem, 72 * HOUR), (err: Error & { code?: string }) => err.code === 'CSR_FAILED' && /requested TTL 72h is greater than the max allowed TTL 48h/.test(err.message));
  } finally {
    client.close();
    await cp.close();
    await rm(dir, { recursive: true });
  }
});

test('a lifetime that is not a duration stops the local control plane before it writes a root or binds a port', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'or-ca-lifetimes-bad-'));
  try {
    const resources = operator('        DEFAULT_WORKLOAD_CERT_TTL: one day\n');
    await assert.rejects(
      startLocalControlPlane({ configDirs: [], resources, stateDir: dir, xdsPort: 0, xdsTlsPort: 0, debugPort: 0, dashboardPort: 0 }),
      (err: unknown) => err instanceof CaConfigError && err.diagnostics.length === 1 && /mesh\.yaml:9:36: error OR1025 .*spec\.values\.pilot\.env\.DEFAULT_WORKLOAD_CERT_TTL: "one day" is not a duration/.test(err.message),
    );
    assert.equal(existsSync(path.join(dir, 'ca')), false);
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('a refused certificate is logged by the control plane too, not only by the proxy that asked', async () => {
  const { CertificateAuthority } = await import('../../src/ca/certificate-authority.ts');
  const { ControlPlane } = await import('../../src/controlplane/control-plane.ts');
  const dir = await mkdtemp(path.join(tmpdir(), 'or-ca-refusal-'));
  const logs: string[] = [];
  const ca = await CertificateAuthority.ephemeral({ maxTtlSeconds: 48 * HOUR });
  const cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, ca, log: (level, m) => logs.push(`${level} ${m}`) });
  const id = { namespace: 'podinfo', serviceAccount: 'podinfo', workload: 'podinfo-0' };
  const client = createCsrClient({ address: cp.xdsAddress, token: () => cp.issueBootstrapToken(id) });
  try {
    const { csrPem } = await createWorkloadCsr('spiffe://cluster.local/ns/podinfo/sa/podinfo');
    await assert.rejects(client.sign(csrPem, 72 * HOUR));
    assert.ok(
      logs.some((l) => /^warn certificate refused for podinfo\/podinfo: CA_BAD_TTL requested TTL 72h is greater than the max allowed TTL 48h$/.test(l)),
      logs.join('\n'),
    );
  } finally {
    client.close();
    await cp.close();
    await rm(dir, { recursive: true });
  }
});
