// A listener LDS moves to a port it cannot bind keeps serving where it was, as Envoy keeps the active
// listener when the new one's socket fails: the update is refused once the bind has failed, the old
// listener and its config stay, and a later update that can bind moves it (the old one then drains).
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, request, routeConfig, startProxy } from './harness.ts';

/** Every port ephemeral, as the harness maps them, but 6060 to the one the test holds. */
class PortMap extends Map<number, number> {
  override get(port: number): number {
    return super.get(port) ?? 0;
  }
}

test('a listener moved to a port that is taken keeps serving on its old one until a later update can bind', async () => {
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const held = (holder.address() as net.AddressInfo).port;
  const backend = await echoBackend();
  const env = await startProxy({ portMap: new PortMap([[6060, held]]) });
  try {
    const xds = env.proxy.xds;
    xds.apply(TypeUrl.Cluster, [cluster('echo')], 'v1');
    xds.apply(TypeUrl.ClusterLoadAssignment, [cla('echo', [{ port: backend.port }])], 'v1');
    await xds.apply(TypeUrl.Listener, [listener('L', 7070, [{ filter: hcm('r') }])], 'v1');
    xds.apply(TypeUrl.RouteConfiguration, [routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'echo' }] }])], 'v1');
    const old = await env.port('L');
    assert.equal((await request(old, '/before')).status, 200);

    const moved = [listener('L', 6060, [{ filter: hcm('r') }])];
    await assert.rejects(Promise.resolve(xds.apply(TypeUrl.Listener, moved, 'v2')), {
      code: 'PROXY_LISTENER_UPDATE',
      message: `Error adding/updating listener(s) L: cannot bind '0.0.0.0:6060': Address already in use (port map: 127.0.0.1:${held})`,
    });
    assert.equal(await env.port('L'), old);
    assert.equal((await request(old, '/still')).status, 200);
    assert.equal([...env.proxy.listeners.listeners()].find((l) => l.name === 'L')?.port, 7070, 'its config is the one it serves');
    assert.equal(xds.dump(TypeUrl.Listener).get('L')?.version, 'v1', '/config_dump shows what runs');

    await new Promise<void>((r) => holder.close(() => r()));
    await xds.apply(TypeUrl.Listener, moved, 'v3');
    assert.equal(await env.port('L'), held);
    assert.equal((await request(held, '/moved')).status, 200);
    await assert.rejects(request(old, '/gone'), 'the old listener no longer accepts');
  } finally {
    holder.close();
    await env.close();
    backend.server.close();
  }
});
