// The ADS server's subscription rules as istiod's (pkg/xds/server.go ShouldRespond, shouldUnsubscribe,
// IsWildcardTypeURL; pilot/pkg/xds/xdsgen.go pushXds), over real gRPC: reconnects carrying an old nonce,
// wildcard and non-wildcard types, unsubscribes, added and removed names, and EDS after CDS.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { TypedAny } from '../../src/xds/any.ts';
import { unpackAny } from '../../src/xds/any.ts';
import type { AdsConnection } from '../../src/xds/ads-server.ts';
import { AdsServer } from '../../src/xds/ads-server.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import type { ProxyResources } from '../../src/translate/proxy-resources.ts';
import { RawAdsClient, sidecarNode } from './raw-ads-client.ts';

let server: grpc.Server;
let ads: AdsServer;
let address = '';
let version = 'v1';
let lbPolicy = 'ROUND_ROBIN';

const cluster = (name: string): TypedAny => ({ '@type': TypeUrl.Cluster, name, type: 'EDS', lb_policy: lbPolicy, eds_cluster_config: { eds_config: { ads: {} } } });
const routes = (name: string): TypedAny => ({ '@type': TypeUrl.RouteConfiguration, name, virtual_hosts: [] });
const assignment = (name: string): TypedAny => ({ '@type': TypeUrl.ClusterLoadAssignment, cluster_name: name, endpoints: [] });

function generate(_conn: AdsConnection): ProxyResources {
  return new Map([
    [TypeUrl.Cluster, new Map(['a', 'b'].map((n) => [n, cluster(n)]))],
    [TypeUrl.ClusterLoadAssignment, new Map(['a', 'b'].map((n) => [n, assignment(n)]))],
    [TypeUrl.RouteConfiguration, new Map(['r1', 'r2', 'r3'].map((n) => [n, routes(n)]))],
  ]);
}

let n = 0;
const connect = () => new RawAdsClient(address, sidecarNode('shop', `p-${++n}`, 'sa', `w${n}`));
const connOf = (c: number) => ads.connections.find((x) => x.node.view.workloadName === `w${c}`) as AdsConnection;
const names = (r: { resources: { type_url: string; value: Uint8Array }[] }) => r.resources.map((a) => String(unpackAny(a)['name'] ?? unpackAny(a)['cluster_name'])).sort();
/** Whether nothing arrives within `ms`: the server's answer to a request comes well within it. */
const silent = (c: RawAdsClient, ms = 400) => c.next(ms).then(() => false, () => true);

before(async () => {
  server = new grpc.Server();
  ads = new AdsServer({ allowAnonymous: true, verifyToken: () => undefined, generate, version: () => version });
  ads.register(server);
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  address = `127.0.0.1:${port}`;
});
after(() => server.forceShutdown());

test('a first request carrying the nonce of an earlier stream opens a watch and is answered', async () => {
  const first = connect();
  first.subscribe(TypeUrl.Cluster);
  const r = await first.next();
  first.ack(r);
  first.close();
  const second = connect();
  try {
    // Envoy reconnecting: the version and nonce it last had, from the stream before
    second.send({ type_url: TypeUrl.Cluster, version_info: r.version_info, response_nonce: r.nonce });
    const full = await second.next();
    assert.deepEqual(names(full), ['a', 'b']);
    assert.notEqual(full.nonce, r.nonce, 'no stream reuses another stream’s nonce');
    second.ack(full);
    assert.ok(await silent(second), 'the ACK of this stream’s response is an ACK');
  } finally {
    second.close();
  }
});

test('a NACK of a response sent on another stream is not answered', async () => {
  const c = connect();
  try {
    c.send({ type_url: TypeUrl.Cluster, version_info: 'v0', response_nonce: 'old', error_detail: { code: 3, message: 'bad' } });
    assert.ok(await silent(c));
  } finally {
    c.close();
  }
});

test('RDS, EDS and SDS: an initial request naming nothing is no subscription', async () => {
  const c = connect();
  try {
    for (const type of [TypeUrl.RouteConfiguration, TypeUrl.ClusterLoadAssignment, TypeUrl.Secret]) c.subscribe(type, []);
    assert.ok(await silent(c));
    assert.deepEqual([...connOf(n).subscriptions().keys()], []);
  } finally {
    c.close();
  }
});

test('RDS: an ACK naming nothing is recorded, then unsubscribes; pushes skip the type until it is asked for again', async () => {
  const c = connect();
  const id = n;
  try {
    c.subscribe(TypeUrl.RouteConfiguration, ['r1']);
    const r1 = await c.next();
    assert.deepEqual(names(r1), ['r1']);
    c.ack(r1, []);
    assert.ok(await silent(c), 'an empty list is no wildcard for RDS');
    const s = connOf(id).state(TypeUrl.RouteConfiguration);
    assert.equal(s.subscribed, false);
    assert.equal(s.sentNonce, undefined, 'reported as never sent: istiod deletes the watch');
    version = 'v-rds';
    ads.pushAll();
    assert.ok(await silent(c), 'an unsubscribed type is not pushed');
    // asked for again, with the nonce of the response before: a new watch, answered
    c.ack(r1, ['r2']);
    assert.deepEqual(names(await c.next()), ['r2']);
  } finally {
    c.close();
  }
});

test('CDS: "*" among the names is the wildcard', async () => {
  const c = connect();
  try {
    c.subscribe(TypeUrl.Cluster, ['*', 'a']);
    assert.deepEqual(names(await c.next()), ['a', 'b']);
  } finally {
    c.close();
  }
});

test('RDS: names only removed are not answered; a name added sends every watched name again', async () => {
  const c = connect();
  try {
    c.subscribe(TypeUrl.RouteConfiguration, ['r1', 'r2']);
    const both = await c.next();
    c.ack(both, ['r1']);
    assert.ok(await silent(c), 'a removal is not answered');
    c.ack(both, ['r1', 'r3']);
    const added = await c.next();
    // The whole watched set, not the added name alone: a client that takes each response as the type's
    // state (an older Outrigger proxy) keeps r1.
    assert.deepEqual(names(added), ['r1', 'r3']);
    c.ack(added, ['r1', 'r3']);
    ads.pushAll();
    assert.ok(await silent(c), 'what the proxy holds is not sent again');
  } finally {
    c.close();
  }
});

test('a CDS push is followed by EDS for the watched clusters, their endpoints unchanged', async () => {
  const c = connect();
  try {
    c.subscribe(TypeUrl.Cluster);
    const cds = await c.next();
    c.ack(cds);
    c.subscribe(TypeUrl.ClusterLoadAssignment, ['a']);
    const eds = await c.next();
    c.ack(eds, ['a']);
    version = 'v-cds';
    lbPolicy = 'LEAST_REQUEST';
    ads.pushAll();
    const cds2 = await c.next();
    assert.equal(cds2.type_url, TypeUrl.Cluster);
    c.ack(cds2);
    const eds2 = await c.next();
    assert.equal(eds2.type_url, TypeUrl.ClusterLoadAssignment);
    assert.deepEqual(names(eds2), ['a']);
    c.ack(eds2, ['a']);
    // Envoy's request for the warming cluster, same names: an ACK, nothing more to send
    c.send({ type_url: TypeUrl.ClusterLoadAssignment, version_info: eds2.version_info, response_nonce: eds2.nonce, resource_names: ['a'] });
    assert.ok(await silent(c));
  } finally {
    c.close();
  }
});

test('RDS: an unsubscribe carrying the nonce of an older response still ends the watch (shouldUnsubscribe comes before the nonce check)', async () => {
  const c = connect();
  const id = n;
  try {
    c.subscribe(TypeUrl.RouteConfiguration, ['r1']);
    const first = await c.next();
    c.ack(first, ['r1', 'r2']);
    assert.deepEqual(names(await c.next()), ['r1', 'r2']);
    c.ack(first, []);
    assert.ok(await silent(c));
    assert.equal(connOf(id).state(TypeUrl.RouteConfiguration).subscribed, false);
  } finally {
    c.close();
  }
});

test('a NACK is recorded and answers nothing; the names it carries change nothing', async () => {
  const c = connect();
  const id = n;
  try {
    c.subscribe(TypeUrl.RouteConfiguration, ['r1']);
    const first = await c.next();
    c.send({ type_url: TypeUrl.RouteConfiguration, version_info: '', response_nonce: first.nonce, resource_names: ['r1', 'r2'], error_detail: { code: 3, message: 'bad route' } });
    assert.ok(await silent(c));
    const s = connOf(id).state(TypeUrl.RouteConfiguration);
    assert.equal(s.lastNack?.message, 'bad route');
    assert.deepEqual(s.names, ['r1']);
    c.send({ type_url: TypeUrl.RouteConfiguration, version_info: '', response_nonce: first.nonce, resource_names: [], error_detail: { code: 3, message: 'bad route' } });
    assert.ok(await silent(c));
    assert.equal(s.subscribed, true, 'a NACK naming nothing is no unsubscribe');
  } finally {
    c.close();
  }
});
