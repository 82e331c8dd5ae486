// A real `outrigger proxy` process on the TLS xDS port outlives its token: it joined with the token,
// then presents its workload certificate, so once the token expires (by the control plane's clock) its
// ADS stream reconnects and its certificate keeps renewing, authenticated by the certificate.
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



test('a proxy whose token expired reconnects and renews with its workload certificate', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'or-cert-renewal-'));
  await writeFile(path.join(dir, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: test}\nspec: {selector: {app: echo}, ports: [{name: http, port: 8080}]}\n');
  // The control plane's clock starts at the wall clock's time and moves only when told: the token
  // expires when the test says, while the proxy renews on its own (wall-clock) schedule.
  const clock = new ManualClock(Date.now());
  const logs: string[] = [];
  const ca = await CertificateAuthority.fromStateDir(path.join(dir, 'ca'));
  const cp = await ControlPlane.start({ configPaths: [path.join(dir, 'svc.yaml')], xdsAddress: '127.0.0.1:0', xdsTlsAddress: '127.0.0.1:0', rescanMs: 0, clock, ca, log: (l, m) => logs.push(`${l} ${m}`) });
  const tokenFile = path.join(dir, 'echo.token');
  await writeFile(tokenFile, cp.issueBootstrapToken({ namespace: 'test', serviceAccount: 'echo', workload: 'echo' }, clock.now() + 2_000));
  await chmod(tokenFile, 0o600);
  // 20 s certificates renewed with 90 % of their life left: a renewal about every 2 s.
  const proxy = await ProxyProcess.spawn([
    ...['--xds-address', cp.xdsTlsAddress, '--xds-tls', '--root-cert', path.join(dir, 'ca', 'root-cert.pem')],
    ...['--token-file', tokenFile, '--metadata-json', metadata, '--cert-ttl', '20s', '--grace-ratio', '0.9'],
  ]);
  t.after(async () => {
    await proxy.stop();
    await cp.close();
    await rm(dir, { recursive: true });
  });
  const issued = (auth: string) => Number(new RegExp(`citadel_server_success_cert_issuance_count\\{auth="${auth}"\\} (\\d+)`).exec(cp.metrics.registry.render())?.[1] ?? 0);

  const admin = await proxy.adminPort(30_000);
  assert.ok(await until(async () => (await adminGet(admin, '/ready').catch(() => ({ status: 0 }))).status === 200, 300), `never ready; log:\n${proxy.log}`);
  assert.ok(await until(() => issued('token') >= 1, 300), `no certificate by token; log:\n${proxy.log}`);

  clock.advance(3_000);
  // The stream the token opened ends at its expiry; the proxy comes back with its certificate.
  assert.ok(
    logs.some((l) => /TOKEN_EXPIRED token expired at \S+ on an open stream/.test(l)),
    logs.join('\n'),
  );
  const connectedBefore = logs.filter((l) => l.startsWith('info connected sidecar~')).length;
  const byCertificate = issued('client_certificate');
  const byToken = issued('token');
  assert.ok(
    await until(() => logs.filter((l) => l.startsWith('info connected sidecar~')).length > connectedBefore && issued('client_certificate') >= byCertificate + 2, 300),
    `no reconnect or renewal by certificate after the token expired (${issued('client_certificate')} by certificate); control plane:\n${logs.join('\n')}\nproxy:\n${proxy.log}`,
  );
  assert.equal(issued('token'), byToken, 'nothing more was signed by the expired token');
  assert.deepEqual(
    cp.connections.map((c) => c.identity),
    [{ namespace: 'test', serviceAccount: 'echo', workload: 'echo' }],
  );
  assert.equal((await adminGet(admin, '/ready')).status, 200);
  assert.doesNotMatch(proxy.log, /certificate renewal failed/);
  // The proxy says its token expired as a renewal by certificate: needed only to join again.
  assert.ok(await until(() => /the token expired at \S+; the proxy renews with its workload certificate/.test(proxy.log), 300), proxy.log);
  // Once it holds a certificate it never says the token is all it has. (Before its first certificate it
  // may: a proxy slow to start reads a token already past its expiry by the wall clock.)
  const lines = proxy.log.split('\n');
  const renewing = lines.findIndex((l) => /the proxy renews with its workload certificate/.test(l));
  assert.deepEqual(
    lines.slice(renewing).filter((l) => /the proxy reads it at its next connection/.test(l)),
    [],
  );
});
