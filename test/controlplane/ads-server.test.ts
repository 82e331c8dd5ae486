// The ADS server over real gRPC: versions and nonces, ACK/NACK, targeted pushes, reconnects,
// authentication and back-pressure.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { BootstrapTokens } from '../../src/controlplane/bootstrap-tokens.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { unpackAny } from '../../src/xds/any.ts';
import type { AdsConnection, AdsServerEvent } from '../../src/xds/ads-server.ts';
import { AdsServer } from '../../src/xds/ads-server.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import type { ProxyResources } from '../../src/translate/proxy-resources.ts';
import { RawAdsClient, sidecarNode } from './raw-ads-client.ts';

const tokens = new BootstrapTokens();
let version = 'v1';
/** Per-workload clusters: what the "translator" returns for each proxy. */
const clusters = new Map<string, TypedAny[]>();
const events: AdsServerEvent[] = [];
let server: grpc.Server;
let ads: AdsServer;
let address: string;

function cluster(name: string, extra: Record<string, unknown> = {}): TypedAny {
  return { '@type': TypeUrl.Cluster, name, type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } }, ...extra };
}

function generate(conn: AdsConnection): ProxyResources {
  const list = clusters.get(conn.node.view.workloadName) ?? [];
  const secret: TypedAny = { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: 'PEM' } } };
  return new Map([
    [TypeUrl.Cluster, new Map(list.map((c) => [c['name'] as string, c]))],
    [TypeUrl.Secret, new Map([['ROOTCA', secret]])],
  ]);
}

function connect(workload: string, opts: { token?: string | null; pod?: string } = {}): RawAdsClient {
  const node = sidecarNode('shop', opts.pod ?? `${workload}-0`, workload, workload);
  const token = opts.token === null ? undefined : (opts.token ?? tokens.issue({ namespace: 'shop', serviceAccount: workload, workload }));
  return new RawAdsClient(address, node, token);
}

function connOf(workload: string): AdsConnection {
  const c = ads.connections.find((x) => x.node.view.workloadName === workload);
  assert.ok(c, `no connection for ${workload}`);
  return c;
}

before(async () => {
  server = new grpc.Server();
  ads = new AdsServer({ verifyToken: (t) => tokens.verify(t), allowAnonymous: true, generate, version: () => version, onEvent: (e) => events.push(e) });
  ads.register(server);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  address = `127.0.0.1:${port}`;
});

after(() => server.forceShutdown());

test('state of the world: subscribe, ACK, then only changed proxies get a push', async () => {
  clusters.set('cart', [cluster('outbound|80||a.shop.svc.cluster.local')]);
  clusters.set('pay', [cluster('outbound|80||b.shop.svc.cluster.local')]);
  const cart = connect('cart');
  const pay = connect('pay');
  try {
    for (const c of [cart, pay]) c.subscribe(TypeUrl.Cluster);
    const r1 = await cart.next();
    assert.equal(r1.version_info, 'v1');
    assert.equal(r1.resources.length, 1);
    assert.equal(unpackAny(r1.resources[0]!)['name'], 'outbound|80||a.shop.svc.cluster.local');
    cart.ack(r1);
    pay.ack(await pay.next());
    // a barrier: the listener response comes after any push the server made before it
    const barrier = async (c: RawAdsClient) => {
      c.subscribe(TypeUrl.Listener);
      return c.next();
    };
    assert.equal((await barrier(cart)).type_url, TypeUrl.Listener);
    assert.equal(connOf('cart').status(TypeUrl.Cluster), 'SYNCED');
    assert.equal(connOf('cart').status(TypeUrl.RouteConfiguration), 'NOT SENT');

    version = 'v2';
    clusters.set('cart', [...(clusters.get('cart') ?? []), cluster('outbound|80||c.shop.svc.cluster.local')]);
    ads.pushAll();
    const r2 = await cart.next();
    assert.equal(r2.version_info, 'v2');
    assert.equal(r2.resources.length, 2);
    assert.notEqual(r2.nonce, r1.nonce);
    assert.equal(connOf('cart').status(TypeUrl.Cluster), 'STALE');
    cart.ack(r2);
    // pay's clusters did not change: its next message is the barrier, not a push
    assert.equal((await barrier(pay)).type_url, TypeUrl.Listener);
    assert.equal(connOf('pay').state(TypeUrl.Cluster).sentVersion, 'v1');
  } finally {
    cart.close();
    pay.close();
  }
});

test('a NACK keeps the proxy on its version, is recorded with its reason, and is not re-sent', async () => {
  version = 'n1';
  clusters.set('nack', [cluster('good')]);
  const c = connect('nack');
  try {
    c.subscribe(TypeUrl.Cluster);
    const good = await c.next();
    c.ack(good);
    await c.barrier();
    version = 'n2';
    clusters.set('nack', [cluster('bad', { lb_policy: 'MAGLEV' })]);
    ads.pushAll();
    const bad = await c.next();
    c.nack(bad, good.version_info, 'cluster bad: lb_policy MAGLEV is not supported');
    ads.pushAll(); // same content: must not be sent again
    c.subscribe(TypeUrl.Listener);
    assert.equal((await c.next()).type_url, TypeUrl.Listener);
    const s = connOf('nack').state(TypeUrl.Cluster);
    assert.equal(connOf('nack').status(TypeUrl.Cluster), 'STALE');
    assert.equal(s.ackedVersion, 'n1');
    assert.equal(s.lastNack?.message, 'cluster bad: lb_policy MAGLEV is not supported');
    assert.ok(events.some((e) => e.kind === 'nack' && e.typeUrl === TypeUrl.Cluster));
  } finally {
    c.close();
  }
});

test('a reconnecting proxy gets its full state again', async () => {
  clusters.set('again', [cluster('x')]);
  const first = connect('again');
  first.subscribe(TypeUrl.Cluster);
  const r = await first.next();
  first.ack(r);
  first.close();
  const second = connect('again');
  try {
    second.send({ type_url: TypeUrl.Cluster, version_info: r.version_info, resource_names: [] });
    const full = await second.next();
    assert.equal(full.resources.length, 1);
  } finally {
    second.close();
  }
});

test('tokens: missing when required, forged or bound to another identity are refused', async () => {
  const forged = connect('cart', { token: 'or1.e30.AAAA' });
  forged.subscribe(TypeUrl.Cluster);
  assert.equal((await forged.status).code, grpc.status.UNAUTHENTICATED);
  assert.equal((await forged.status).details, 'authentication failed');
  // a valid token for "pay" presented by a node claiming to be "cart"
  const liar = connect('cart', { token: tokens.issue({ namespace: 'shop', serviceAccount: 'pay', workload: 'pay' }) });
  liar.subscribe(TypeUrl.Cluster);
  assert.equal((await liar.status).code, grpc.status.PERMISSION_DENIED);
  const refused = events.filter((e) => e.kind === 'refused').map((e) => (e.kind === 'refused' ? e.code : ''));
  assert.deepEqual(refused.slice(-2), ['BAD_TOKEN', 'IDENTITY_MISMATCH']);
  forged.close();
  liar.close();
});

test('secrets: a proxy gets only its own; an anonymous client gets none', async () => {
  const anon = connect('anon', { token: null });
  const owner = connect('owner');
  try {
    anon.subscribe(TypeUrl.Secret, ['ROOTCA']);
    owner.subscribe(TypeUrl.Secret, ['ROOTCA']);
    assert.equal((await anon.next()).resources.length, 0);
    assert.equal((await owner.next()).resources.length, 1);
  } finally {
    anon.close();
    owner.close();
  }
});

test('a client that stops reading cannot make the server queue every version', async () => {
  const big = 'x'.repeat(64 * 1024);
  const c = connect('slow');
  try {
    clusters.set('slow', [cluster('s0')]);
    c.subscribe(TypeUrl.Cluster);
    c.ack(await c.next());
    await c.barrier();
    c.call.pause();
    const before = events.filter((e) => e.kind === 'push' && e.conn.node.view.workloadName === 'slow').length;
    for (let i = 1; i <= 60; i++) {
      version = `slow-${i}`;
      clusters.set('slow', [cluster(`s${i}`, { alt_stat_name: big })]);
      ads.pushAll();
    }
    const pushes = events.filter((e) => e.kind === 'push' && e.conn.node.view.workloadName === 'slow').length - before;
    assert.ok(pushes < 60, `pushed ${pushes} of 60 versions to a stalled stream`);
    c.call.resume();
    // drain: the last response carries the newest version
    let last = await c.next();
    while (last.version_info !== 'slow-60') last = await c.next();
    assert.equal(unpackAny(last.resources[0]!)['name'], 's60');
  } finally {
    c.close();
  }
});
