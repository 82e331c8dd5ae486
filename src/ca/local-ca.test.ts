// The control plane's CA opened from the config: istiod's lifetimes applied, a kept root left alone (with
// a note), bad settings refused before anything is written.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadText } from '../config/load-text.ts';
import { createWorkloadCsr } from '../proxy/tls/workload-csr.ts';
import { CaConfigError } from './ca-error.ts';
import { caOptionsFrom, openKeptCa } from './local-ca.ts';
import { x509 } from './x509.ts';

const T0 = Date.UTC(2030, 0, 1);
const HOUR = 3600;
const podinfo = { namespace: 'podinfo', serviceAccount: 'podinfo' };

const mesh = (env: string) =>
  loadText(
    `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: control-plane, namespace: istio-system }
spec:
  meshConfig: { trustDomain: example.org, defaultConfig: { proxyMetadata: { SECRET_TTL: 24h } } }
  values:
    pilot:
      env:
${env}`,
    'mesh.yaml',
  ).resources;

const seedLike = mesh('        DEFAULT_WORKLOAD_CERT_TTL: 12h\n        MAX_WORKLOAD_CERT_TTL: 48h\n        CITADEL_SELF_SIGNED_CA_CERT_TTL: 8760h\n');

function withDir(run: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'outrigger-local-ca-'));
    try {
      await run(path.join(dir, 'ca'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  "the kept CA takes istiod's lifetimes from the IstioOperator: root, default and maximum",
  withDir(async (dir) => {
    const notes: string[] = [];
    const ca = await openKeptCa(dir, seedLike, { now: () => T0, progress: (l) => notes.push(l) });
    assert.equal(ca.trustDomain, 'example.org');
    assert.equal(ca.rootExpiry().getTime(), T0 + 8760 * HOUR * 1000);
    assert.deepEqual(notes, [], 'a root made now needs no note');
    const { csrPem } = await createWorkloadCsr('spiffe://example.org/ns/podinfo/sa/podinfo');
    const lifetime = async (ttl?: number) => (new x509.X509Certificate((await ca.sign(csrPem, podinfo, ttl))[0]!).notAfter.getTime() - T0) / 1000;
    assert.equal(await lifetime(24 * HOUR), 24 * HOUR, "SECRET_TTL's request is granted");
    assert.equal(await lifetime(), 12 * HOUR, 'a CSR that asks for nothing gets DEFAULT_WORKLOAD_CERT_TTL');
    await assert.rejects(ca.sign(csrPem, podinfo, 72 * HOUR), { code: 'CA_BAD_TTL', message: 'requested TTL 72h is greater than the max allowed TTL 48h' });
  }),
);

test(
  'a kept root is not remade when CITADEL_SELF_SIGNED_CA_CERT_TTL changes, and a note says so',
  withDir(async (dir) => {
    const first = await openKeptCa(dir, seedLike, { now: () => T0 });
    const notes: string[] = [];
    const changed = mesh('        CITADEL_SELF_SIGNED_CA_CERT_TTL: 87600h\n');
    const later = await openKeptCa(dir, changed, { now: () => T0 + HOUR * 1000, progress: (l) => notes.push(l) });
    assert.deepEqual(later.trustBundle(), first.trustBundle());
    assert.equal(later.rootExpiry().getTime(), T0 + 8760 * HOUR * 1000);
    assert.equal(notes.length, 1);
    assert.match(notes[0]!, /^note: the CA root kept in .* was made to live 8760h1m \(until 2031-01-01T00:00:00\.000Z\); CITADEL_SELF_SIGNED_CA_CERT_TTL 87600h applies to the next root made/);
    const quiet: string[] = [];
    await openKeptCa(dir, seedLike, { now: () => T0, progress: (l) => quiet.push(l) });
    await openKeptCa(dir, mesh('        MAX_WORKLOAD_CERT_TTL: 48h\n'), { now: () => T0, progress: (l) => quiet.push(l) });
    assert.deepEqual(quiet, [], 'no note when the setting matches the root, or is not set');
  }),
);

test(
  'bad lifetimes stop the CA before a root is written, every problem with its place',
  withDir(async (dir) => {
    const bad = mesh('        MAX_WORKLOAD_CERT_TTL: 12h\n        CITADEL_SELF_SIGNED_CA_CERT_TTL: ten years\n');
    await assert.rejects(openKeptCa(dir, bad), (err: unknown) => {
      assert.ok(err instanceof CaConfigError);
      assert.equal(err.code, 'CA_BAD_CONFIG');
      assert.deepEqual(
        err.diagnostics.map((d) => `${d.span?.start.line}:${d.span?.start.col} ${d.code} ${d.field}`),
        ['10:42 OR1025 spec.values.pilot.env.CITADEL_SELF_SIGNED_CA_CERT_TTL', '5:89 OR1024 spec.meshConfig.defaultConfig.proxyMetadata.SECRET_TTL'],
      );
      assert.match(err.message, /\n {2}mesh\.yaml:10:42: error OR1025 IstioOperator istio-system\/control-plane: spec\.values\.pilot\.env\.CITADEL_SELF_SIGNED_CA_CERT_TTL: "ten years" is not a duration/);
      return true;
    });
    assert.equal(existsSync(dir), false);
    assert.throws(() => caOptionsFrom(bad), CaConfigError);
  }),
);
