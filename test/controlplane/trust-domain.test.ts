// One trust domain for the identities the CA issues and the names translation writes (secure-naming
// SANs, principals): the local CA takes it by the translator's rule, and a control plane whose CA was
// made for another domain keeps translating in the CA's, with a warning.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { loadText } from '../../src/config/load-text.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { meshSettingsFrom } from '../../src/model/mesh-config.ts';
import { certificateSettings } from '../../src/runtime/start-control-plane.ts';
import { decideHttp, policy, TARGET } from '../authz/simulate.ts';

const operator = (name: string, meshConfig: string) => `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: ${name}, namespace: istio-system }
spec:
${meshConfig}
`;

test('the local CA takes its trust domain by the rule translation uses: the first IstioOperator with a meshConfig', () => {
  const resources = loadText(
    [operator('gateways', '  components: { ingressGateways: [{ name: istio-ingressgateway, enabled: true }] }'), operator('mesh', '  meshConfig: { trustDomain: example.org }')].join('---\n'),
  ).resources;
  assert.equal(meshSettingsFrom(resources).trustDomain, 'example.org');
  assert.equal(certificateSettings(resources).trustDomain, 'example.org', 'not the first IstioOperator, which has no meshConfig');
  const blank = loadText(operator('mesh', '  meshConfig: { trustDomain: "" }')).resources;
  assert.equal(certificateSettings(blank).trustDomain, meshSettingsFrom(blank).trustDomain, 'an empty trust domain falls back the same way');
  assert.equal(certificateSettings(blank).trustDomain, 'cluster.local');
});

test("a control plane whose CA issues in another domain translates in the CA's, and says so", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'or-td-'));
  await writeFile(path.join(dir, 'mesh.yaml'), operator('mesh', '  meshConfig: { trustDomain: example.org }'));
  const logs: string[] = [];
  const ca = await CertificateAuthority.ephemeral({ trustDomain: 'cluster.local' });
  const cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, ca, log: (l, m) => logs.push(`${l} ${m}`) });
  try {
    assert.equal(cp.snapshot.mesh.trustDomain, 'cluster.local', 'secure-naming SANs name the identities the CA issues');
    assert.equal(logs.filter((l) => l.includes('meshConfig.trustDomain is example.org, but the CA issues identities in cluster.local')).length, 1);
    cp.rebuild();
    assert.equal(logs.filter((l) => l.includes('meshConfig.trustDomain')).length, 1, 'once per change, not per rebuild');
  } finally {
    await cp.close();
    await rm(dir, { recursive: true });
  }
});

test('during a migration the CA has not applied yet, a policy written for the configured domain still matches the identities issued', async () => {
  // Istio's migration: trustDomain becomes new-td with the old one as an alias, while every
  // certificate still names old-td until the control plane restarts with a CA for new-td.
  const dir = await mkdtemp(path.join(tmpdir(), 'or-td-'));
  await writeFile(path.join(dir, 'mesh.yaml'), operator('mesh', '  meshConfig: { trustDomain: new-td, trustDomainAliases: [old-td] }'));
  const ca = await CertificateAuthority.ephemeral({ trustDomain: 'old-td' });
  const cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, ca, log: () => {} });
  try {
    const mesh = cp.snapshot.mesh;
    assert.deepEqual([mesh.trustDomain, mesh.trustDomainAliases], ['old-td', ['new-td']]);
    const target = { ...TARGET, trustDomain: mesh.trustDomain, trustDomainAliases: mesh.trustDomainAliases };
    const deny = [policy('deny', 'foo', { action: 'DENY', rules: [{ from: [{ source: { principals: ['new-td/ns/foo/sa/attacker'] } }] }] })];
    const as = (id: string) => decideHttp(deny, { connection: { tls: true, peerPrincipal: id } }, target).status;
    assert.equal(as('spiffe://old-td/ns/foo/sa/attacker'), 403, 'the DENY holds for the identity the CA issues');
    assert.equal(as('spiffe://old-td/ns/foo/sa/friend'), 200);
  } finally {
    await cp.close();
    await rm(dir, { recursive: true });
  }
});
