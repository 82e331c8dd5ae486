// A root rotation does not cut a running proxy off its control plane. The TLS port's own certificate is
// signed again by the new root at once, and a proxy started with `--root-cert` of the old root trusts
// only that file: the control plane pushes the new bundle as ROOTCA when it changes, and the proxy
// trusts what it was pushed on its next connection, as Istio's agent follows the mesh's root bundle.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { ManualClock } from '../../src/controlplane/clock.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { adminGet, ProxyProcess, until } from './proxy-process.ts';

const metadata = JSON.stringify({ NAMESPACE: 'test', SERVICE_ACCOUNT: 'echo', WORKLOAD_NAME: 'echo', LABELS: { app: 'echo' } });



const bare = (pem: string) => pem.replace(/-----[A-Z ]+-----|\s+/g, '');

/** The ROOTCA the proxy holds from SDS, as its config_dump shows it. */
async function pushedRootCa(admin: number): Promise<string> {
  const dump = JSON.parse((await adminGet(admin, '/config_dump')).body) as { configs: { dynamic_active_secrets?: { name: string; secret: { validation_context?: { trusted_ca?: { inline_string?: string } } } }[] }[] };
  const secret = dump.configs.flatMap((c) => c.dynamic_active_secrets ?? []).find((s) => s.name === 'ROOTCA');
  return secret?.secret.validation_context?.trusted_ca?.inline_string ?? '';
}

test('after a root rotation, a proxy started with the old root reconnects to the control plane it re-signed', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'or-root-rotation-'));
  await writeFile(path.join(dir, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: test}\nspec: {selector: {app: echo}, ports: [{name: http, port: 8080}]}\n');
  const clock = new ManualClock(Date.now());
  const logs: string[] = [];
  // Not beside the config: nothing but the rotation itself may make the control plane push.
  const caDir = await mkdtemp(path.join(tmpdir(), 'or-root-rotation-ca-'));
  const ca = await CertificateAuthority.fromStateDir(caDir);
  const cp = await ControlPlane.start({ configPaths: [path.join(dir, 'svc.yaml')], xdsAddress: '127.0.0.1:0', xdsTlsAddress: '127.0.0.1:0', rescanMs: 0, clock, ca, log: (l, m) => logs.push(`${l} ${m}`) });
  const tokenFile = path.join(dir, 'echo.token');
  await writeFile(tokenFile, cp.issueBootstrapToken({ namespace: 'test', serviceAccount: 'echo', workload: 'echo' }));
  await chmod(tokenFile, 0o600);
  // The root file the proxy starts with holds the old root only, and is never rewritten.
  const oldRootFile = path.join(dir, 'old-root.pem');
  await writeFile(oldRootFile, ca.trustBundle().join(''));
  const proxy = await ProxyProcess.spawn([...['--xds-address', cp.xdsTlsAddress, '--xds-tls', '--root-cert', oldRootFile], ...['--token-file', tokenFile, '--metadata-json', metadata]]);
  t.after(async () => {
    await proxy.stop();
    await cp.close();
    await rm(dir, { recursive: true });
    await rm(caDir, { recursive: true });
  });
  const connected = () => logs.filter((l) => l.startsWith('info connected sidecar~')).length;
  const admin = await proxy.adminPort(30_000);
  assert.ok(await until(async () => (await adminGet(admin, '/ready').catch(() => ({ status: 0 }))).status === 200, 300), `never ready; log:\n${proxy.log}`);
  assert.equal(connected(), 1);
  // What its connection set off (its pod's registration) is pushed first: nothing is left pending.
  clock.advance(200);
  assert.ok(await cp.whenSynced(10_000), 'the proxy never synced');

  await ca.rotateSelfSignedRoot();
  const newRoot = ca.signingChain().at(-1) as string;
  // The bundle change is pushed (after the debounce, on the control plane's clock) ...
  clock.advance(200);
  assert.ok(await until(async () => bare(await pushedRootCa(admin)).includes(bare(newRoot)), 100), `the new root was never pushed; control plane:\n${logs.join('\n')}`);
  // ... and the TLS port now serves a certificate of the new root only.
  assert.ok(await until(() => logs.some((l) => /xDS TLS certificate for \S+ renewed \(the CA signing root rotated\)/.test(l)), 100), logs.join('\n'));

  // The stream ends (a control plane restart, a network blip): the proxy must come back through TLS.
  cp.ads.closeStreams();
  assert.ok(await until(() => connected() >= 2, 300), `the proxy never reconnected after the rotation; control plane:\n${logs.join('\n')}\nproxy:\n${proxy.log}`);
  assert.equal((await adminGet(admin, '/ready')).status, 200);
});
