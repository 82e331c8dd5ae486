// A real `outrigger proxy` process joins the control plane over the TLS xDS port (15012) with the mesh
// root file: it gets its config and its workload certificate over that port and turns ready; with
// another root, another server name or a missing root file it says which flag and file are wrong.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { adminGet, ProxyProcess } from './proxy-process.ts';

let dir: string;
let cp: ControlPlane;
let tokenFile: string;
const metadata = JSON.stringify({ NAMESPACE: 'test', SERVICE_ACCOUNT: 'echo', WORKLOAD_NAME: 'echo', LABELS: { app: 'echo' } });

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'or-xds-tls-proxy-'));
  await writeFile(path.join(dir, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: test}\nspec: {selector: {app: echo}, ports: [{name: http, port: 8080}]}\n');
  const ca = await CertificateAuthority.fromStateDir(path.join(dir, 'ca'));
  cp = await ControlPlane.start({ configPaths: [path.join(dir, 'svc.yaml')], xdsAddress: '127.0.0.1:0', xdsTlsAddress: '127.0.0.1:0', rescanMs: 0, ca, log: () => {} });
  tokenFile = path.join(dir, 'echo.token');
  await writeFile(tokenFile, cp.issueBootstrapToken({ namespace: 'test', serviceAccount: 'echo', workload: 'echo' }));
  await chmod(tokenFile, 0o600);
});

after(async () => {
  await cp.close();
  await rm(dir, { recursive: true });
});


/** Polls until `/ready` answers 200, at most `attempts` times. */
async function waitReady(port: number, attempts: number): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    const r = await adminGet(port, '/ready').catch(() => ({ status: 0 }));
    if (r.status === 200) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

const proxyArgs = (extra: readonly string[]) => ['--xds-address', cp.xdsTlsAddress, '--token-file', tokenFile, '--metadata-json', metadata, ...extra];

test('a proxy process with --xds-tls and the root file gets its config and certificate over 15012', async () => {
  const proxy = await ProxyProcess.spawn(proxyArgs(['--xds-tls', '--root-cert', path.join(dir, 'ca', 'root-cert.pem')]));
  try {
    await proxy.waitForLog(/xDS over TLS to \S+, trusting \S+root-cert\.pem for istiod\.istio-system\.svc/, 30_000);
    const admin = await proxy.adminPort(30_000);
    assert.ok(await waitReady(admin, 300), `never ready; log:\n${proxy.log}`);
    const dump = JSON.parse((await adminGet(admin, '/config_dump')).body) as { configs: Record<string, unknown>[] };
    const clusters = dump.configs.find((c) => String(c['@type']).endsWith('ClustersConfigDump'))?.['dynamic_active_clusters'] as unknown[];
    assert.ok(clusters.length > 0);
    // The certificate came from the CSR service on the same TLS port (there is no other port to ask).
    for (let i = 0; i < 300; i++) {
      const secrets = JSON.parse((await adminGet(admin, '/config_dump')).body).configs.find((c: Record<string, unknown>) => String(c['@type']).endsWith('SecretsConfigDump'));
      if (JSON.stringify(secrets).includes('"name":"default"')) break;
      assert.ok(i < 299, `no default certificate; log:\n${proxy.log}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.doesNotMatch(proxy.log, /no workload certificate/);
  } finally {
    await proxy.stop();
  }
});

test('a proxy trusting another root logs which flag and file are wrong, and keeps retrying', async () => {
  const other = await CertificateAuthority.fromStateDir(path.join(dir, 'other-ca'));
  assert.ok(other.trustBundle().length > 0);
  const wrong = path.join(dir, 'other-ca', 'root-cert.pem');
  const proxy = await ProxyProcess.spawn(proxyArgs(['--xds-tls', '--root-cert', wrong]));
  try {
    const m = await proxy.waitForLog(/xDS TLS: the control plane at \S+ is not trusted: .*--root-cert (\S+)/, 30_000);
    assert.equal(m[1], wrong);
    assert.equal(proxy.child.exitCode, null);
  } finally {
    await proxy.stop();
  }
});

test('a proxy expecting another server name says so', async () => {
  const proxy = await ProxyProcess.spawn(proxyArgs(['--xds-tls', '--root-cert', path.join(dir, 'ca', 'root-cert.pem'), '--xds-server-name', 'istiod.elsewhere.svc']));
  try {
    await proxy.waitForLog(/has no certificate for istiod\.elsewhere\.svc \(--xds-server-name\)/, 30_000);
  } finally {
    await proxy.stop();
  }
});

test('a missing root file stops the proxy with exit 64 (usage), naming the flag and the file', async () => {
  const missing = path.join(dir, 'nowhere', 'root-cert.pem');
  const proxy = await ProxyProcess.spawn(proxyArgs(['--xds-tls', '--root-cert', missing]));
  assert.equal(await proxy.exited, 64);
  assert.ok(proxy.log.includes(`--root-cert: cannot read ${missing}`), proxy.log);
  const noRoot = await ProxyProcess.spawn(proxyArgs(['--xds-tls']));
  assert.equal(await noRoot.exited, 64);
  assert.match(noRoot.log, /--xds-tls needs --root-cert FILE/);
});
