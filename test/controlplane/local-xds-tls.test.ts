// `outrigger up`'s in-process control plane serves the TLS xDS port beside plaintext loopback: on a
// free port under ephemeral ports, listed in the handle's ports, verifiable with the state dir's root.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { BootstrapTokens } from '../../src/controlplane/bootstrap-tokens.ts';
import { loadTokenKey } from '../../src/controlplane/token-key.ts';
import { diagnoseXdsTls, xdsTlsTransport } from '../../src/proxy/xds-transport.ts';
import { startLocalControlPlane } from '../../src/runtime/start-control-plane.ts';

test('the local control plane lists its TLS xDS port and the root that verifies it', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'or-local-xds-tls-'));
  const config = path.join(dir, 'config');
  await mkdir(config);
  await writeFile(path.join(config, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: test}\nspec: {ports: [{port: 8080}]}\n');
  const cp = await startLocalControlPlane({ configDirs: [config], resources: [], stateDir: dir, xdsPort: 0, debugPort: 0, dashboardPort: 0 });
  try {
    assert.match(cp.xdsAddress, /^127\.0\.0\.1:\d+$/);
    assert.match(cp.xdsTlsAddress ?? '', /^0\.0\.0\.0:\d+$/);
    const port = cp.ports['xdsTls'];
    assert.ok(port && port > 0);
    assert.equal(cp.xdsTlsAddress, `0.0.0.0:${port}`);
    assert.equal(cp.rootCertFile, path.join(dir, 'ca', 'root-cert.pem'));
    assert.ok(existsSync(cp.rootCertFile));
    const tls = xdsTlsTransport({ xdsTls: true, rootCert: cp.rootCertFile });
    assert.ok(tls);
    assert.equal(await diagnoseXdsTls(`127.0.0.1:${port}`, tls), undefined);
    // The plaintext port is not TLS: the probe says it cannot get a handshake there.
    assert.match((await diagnoseXdsTls(cp.xdsAddress, tls)) ?? '', /does not answer TLS .*--xds-address/);
    // Its tokens are made with the key kept beside the CA, which `outrigger token --ca-dir` reads.
    const id = { namespace: 'test', serviceAccount: 'echo', workload: 'echo' };
    assert.equal(cp.issueBootstrapToken(id), new BootstrapTokens(loadTokenKey(path.join(dir, 'ca'), false)).issue(id));
  } finally {
    await cp.close();
    await rm(dir, { recursive: true });
  }
});

test('a taken TLS port leaves TLS off with a note; the local control plane still starts', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'or-local-xds-tls-busy-'));
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '0.0.0.0', r));
  const busy = (holder.address() as net.AddressInfo).port;
  const notes: string[] = [];
  const cp = await startLocalControlPlane({ configDirs: [], resources: [], stateDir: dir, xdsPort: 0, xdsTlsPort: busy, debugPort: 0, dashboardPort: 0, progress: (l) => notes.push(l) });
  try {
    assert.equal(cp.xdsTlsAddress, undefined);
    assert.equal(cp.ports['xdsTls'], undefined);
    assert.match(cp.xdsAddress, /^127\.0\.0\.1:\d+$/);
    const said = notes.filter((n) => n.includes('xDS over TLS not served'));
    assert.equal(said.length, 1);
    assert.match(said[0] ?? '', new RegExp(`^note: xDS over TLS not served: port ${busy} is already in use by pid ${process.pid} \\(.+\\); proxies on this host are not affected$`));
  } finally {
    await cp.close();
    holder.close();
    await rm(dir, { recursive: true });
  }
});

test('a taken xDS, debug or dashboard port stops the start naming the port, its holder and its flag, leaving nothing bound', async () => {
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const busy = (holder.address() as net.AddressInfo).port;
  try {
    for (const [key, flag] of [
      ['xdsPort', '--xds-port'],
      ['debugPort', '--debug-port'],
      ['dashboardPort', '--dashboard-port'],
    ] as const) {
      const dir = await mkdtemp(path.join(tmpdir(), 'or-local-busy-'));
      try {
        const ports = { xdsPort: 0, xdsTlsPort: 0, debugPort: 0, dashboardPort: 0, [key]: busy };
        await assert.rejects(
          startLocalControlPlane({ configDirs: [], resources: [], stateDir: dir, ...ports }),
          (err: Error) => new RegExp(`^port ${busy} is already in use by pid ${process.pid} \\(.+\\) \\(${flag}\\); free it or choose another port with ${flag}$`).test(err.message),
          flag,
        );
      } finally {
        await rm(dir, { recursive: true });
      }
    }
  } finally {
    holder.close();
  }
});
