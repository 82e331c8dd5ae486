// The control plane's /debug/* endpoints (every proxy's config, the registry, the config in force)
// answer callers on this machine only, as istiod's allowAuthenticatedOrLocalhost does for callers it
// cannot authenticate, even when --host binds every interface; /metrics and /version stay open for a
// Prometheus on another host. The non-loopback caller is this machine's own non-loopback address (the
// test skips where the machine has none).
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { startDebugApi } from '../../src/controlplane/debug-api.ts';

function get(address: string, port: number, pathname: string, localAddress?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: address, port, path: pathname, agent: false, ...(localAddress ? { localAddress } : {}) }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

const external = Object.values(networkInterfaces())
  .flat()
  .find((i) => i !== undefined && !i.internal && i.family === 'IPv4')?.address;

test('/debug/* answers local callers only; /metrics and /version answer anyone', { skip: external === undefined ? 'no non-loopback IPv4 address on this machine' : false }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'or-debug-local-'));
  const cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', rescanMs: 0, log: () => {} });
  const debug = await startDebugApi(cp, '0.0.0.0:0');
  try {
    const port = Number(debug.address.split(':').at(-1));
    assert.equal(await get('127.0.0.1', port, '/debug/registryz'), 200, 'from loopback');
    assert.equal(await get(external as string, port, '/debug/registryz', external), 403, 'from another address');
    assert.equal(await get(external as string, port, '/debug/config_dump?proxyID=x', external), 403);
    assert.equal(await get(external as string, port, '/metrics', external), 200);
    assert.equal(await get(external as string, port, '/version', external), 200);
  } finally {
    await debug.close();
    await cp.close();
    await rm(dir, { recursive: true, force: true });
  }
});
