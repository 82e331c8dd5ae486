// An LDS update that stops part-way while its listeners are swapped in (some on the new version, some on
// the one before) still leaves the certificate files of both versions watched: the watch follows what
// may be served, not only what was applied in full.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { makeCa } from '../../../test/proxy/certs.ts';
import { listener, ManualTimers, tcpProxy } from '../../../test/proxy/harness.ts';
import { TypeUrl } from '../../xds/type-urls.ts';
import type { ClusterManager } from '../cluster/cluster-manager.ts';
import { HttpFilterRegistry } from '../http/filter-registry.ts';
import type { ListenerManager } from '../listener/listener-manager.ts';
import { SecretStore } from './secrets.ts';
import { XdsState } from './xds-state.ts';

test('a listener update that fails part-way keeps the files of both versions watched', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'xds-state-'));
  const ca = await makeCa('xds-state');
  const pair = await ca.issueWithSans([{ type: 'dns', value: 'gw.example.com' }]);
  const dirs = ['one', 'two'].map((n) => path.join(root, n));
  for (const d of dirs) {
    mkdirSync(d);
    writeFileSync(path.join(d, 'tls.crt'), pair.cert);
    writeFileSync(path.join(d, 'tls.key'), pair.key);
  }
  const gateway = (dir: string) =>
    listener('gw', 8443, [{ filter: tcpProxy('b'), tls: { '@type': TypeUrl.DownstreamTlsContext, common_tls_context: { tls_certificate_sds_secret_configs: [{ name: `file-cert:${path.join(dir, 'tls.crt')}~${path.join(dir, 'tls.key')}` }] } } }]);
  let fail = false;
  const listeners = {
    apply: () => {
      if (fail) throw new Error('stopped part-way');
      return Promise.resolve([]);
    },
    listeners: () => [].values(),
    warmingListeners: () => [].values(),
  } as unknown as ListenerManager;
  const secrets = new SecretStore({ timers: new ManualTimers() });
  const xds = new XdsState({ clusters: {} as ClusterManager, listeners, secrets, filters: new HttpFilterRegistry(), now: () => 0 });
  await xds.apply(TypeUrl.Listener, [gateway(dirs[0] as string)], 'v1');
  assert.deepEqual(secrets.watchedDirs(), [dirs[0]]);
  fail = true;
  assert.throws(() => xds.apply(TypeUrl.Listener, [gateway(dirs[1] as string)], 'v2'), /stopped part-way/);
  assert.deepEqual(secrets.watchedDirs().sort(), dirs);
  fail = false;
  await xds.apply(TypeUrl.Listener, [gateway(dirs[1] as string)], 'v3');
  assert.deepEqual(secrets.watchedDirs(), [dirs[1]]);
  secrets.close();
});
