// A CDS update with a cluster that does not compile (an empty trusted_ca) applies the others and is
// NACKed naming that one, as Envoy's CdsApiHelper::onConfigUpdate adds or updates each cluster on its
// own; the bad cluster keeps its previous version, or stays absent if it had none.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cluster, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
before(async () => {
  env = await startProxy();
});
after(() => env.close());

function withCa(name: string, ca: string) {
  return {
    ...cluster(name),
    transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': TypeUrl.UpstreamTlsContext, common_tls_context: { validation_context: { trusted_ca: { inline_string: ca } } } } },
  };
}

test('a cluster with an empty trusted_ca is refused alone: the others apply, the update is NACKed naming it', () => {
  const apply = () => env.proxy.xds.apply(TypeUrl.Cluster, [cluster('a'), withCa('bad', ''), cluster('b')], 'v1');
  assert.throws(apply, /^Error: Error adding\/updating cluster\(s\) bad: .*trusted_ca: is empty/);
  assert.ok(env.proxy.clusters.get('a'), 'a applied');
  assert.ok(env.proxy.clusters.get('b'), 'b applied');
  assert.equal(env.proxy.clusters.get('bad'), undefined, 'a new bad cluster stays absent');
});

test('a cluster that turns bad keeps its previous version; one left out of the update is removed', () => {
  env.proxy.xds.apply(TypeUrl.Cluster, [cluster('a'), withCa('b', 'not empty')], 'v2');
  const kept = env.proxy.clusters.get('b')?.settings;
  assert.ok(kept?.origination);
  assert.throws(() => env.proxy.xds.apply(TypeUrl.Cluster, [withCa('b', '\n'), cluster('c')], 'v3'), /cluster\(s\) b: /);
  assert.equal(env.proxy.clusters.get('b')?.settings, kept, 'b as it was');
  assert.ok(env.proxy.clusters.get('c'), 'c applied');
  assert.equal(env.proxy.clusters.get('a'), undefined, 'a removed');
});
