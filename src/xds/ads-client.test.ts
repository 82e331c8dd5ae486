// ADS client against a tiny in-test ADS server: subscription order, ACK/NACK with error_detail,
// keeping the last good config, and resubscribing after the control plane comes back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { TypedAny } from './any.ts';
import { packAny } from './any.ts';
import type { AdsEvent, DiscoveryRequest, DiscoveryResponse } from './ads-client.ts';
import { AdsClient } from './ads-client.ts';
import { TypeUrl } from './type-urls.ts';
import { adsServiceDefinition } from './ads-server.ts';

type Call = grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;

async function startServer(onCall: (call: Call) => void, port = 0): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(
    adsServiceDefinition,
    { StreamAggregatedResources: onCall as grpc.handleBidiStreamingCall<DiscoveryRequest, DiscoveryResponse> },
  );
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { server, port: bound };
}

const cluster = (name: string) => packAny(TypeUrl.Cluster, { name, eds_cluster_config: { service_name: name } });

function makeSubscriber() {
  const applied: { typeUrl: string; names: string[]; version: string }[] = [];
  let clusters: string[] = [];
  return {
    applied,
    subscriber: {
      apply(typeUrl: string, resources: TypedAny[], version: string) {
        const names = resources.map((r) => String(r['name']));
        if (names.includes('bad')) throw new Error('Cluster bad: unsupported lb_policy MAGLEV');
        if (typeUrl === TypeUrl.Cluster) clusters = names;
        applied.push({ typeUrl, names, version });
      },
      resourceNames(typeUrl: string) {
        if (typeUrl === TypeUrl.ClusterLoadAssignment) return clusters;
        if (typeUrl === TypeUrl.RouteConfiguration || typeUrl === TypeUrl.Secret) return [];
        return undefined;
      },
    },
  };
}

/** Collects requests of one stream; `next(pred)` resolves with the first matching request. */
function requestQueue(call: Call) {
  const seen: DiscoveryRequest[] = [];
  const waiters: { pred: (r: DiscoveryRequest) => boolean; resolve: (r: DiscoveryRequest) => void }[] = [];
  call.on('data', (r: DiscoveryRequest) => {
    const i = waiters.findIndex((w) => w.pred(r));
    if (i >= 0) waiters.splice(i, 1)[0]?.resolve(r);
    else seen.push(r);
  });
  call.on('error', () => {});
  return {
    next(pred: (r: DiscoveryRequest) => boolean): Promise<DiscoveryRequest> {
      const i = seen.findIndex(pred);
      if (i >= 0) return Promise.resolve(seen.splice(i, 1)[0] as DiscoveryRequest);
      return new Promise((resolve) => waiters.push({ pred, resolve }));
    },
  };
}

test('subscribes CDS then EDS, ACKs good updates and NACKs bad ones with the reason', async (t) => {
  const calls: Call[] = [];
  let gotCall!: (c: Call) => void;
  const callP = new Promise<Call>((r) => (gotCall = r));
  const { server, port } = await startServer((c) => {
    calls.push(c);
    gotCall(c);
  });
  t.after(() => server.forceShutdown());
  const { subscriber, applied } = makeSubscriber();
  const client = new AdsClient({
    address: `127.0.0.1:${port}`,
    node: { id: 'sidecar~10.0.0.1~a.ns~ns.svc.cluster.local', metadata: { NAMESPACE: 'ns' } },
    token: 'tok',
    subscriber,
  });
  t.after(() => client.stop());
  client.start();
  const call = await callP;
  assert.equal(call.metadata.get('authorization')[0], 'Bearer tok');
  const q = requestQueue(call);
  const cds = await q.next((r) => r.type_url === TypeUrl.Cluster);
  assert.equal(cds.node?.id, 'sidecar~10.0.0.1~a.ns~ns.svc.cluster.local');
  assert.deepEqual(cds.resource_names ?? [], []);

  call.write({ version_info: 'v1', type_url: TypeUrl.Cluster, nonce: 'n1', resources: [cluster('a'), cluster('b')] });
  const ack = await q.next((r) => r.type_url === TypeUrl.Cluster && r.response_nonce === 'n1');
  assert.equal(ack.version_info, 'v1');
  assert.equal(ack.error_detail, undefined);
  const eds = await q.next((r) => r.type_url === TypeUrl.ClusterLoadAssignment);
  assert.deepEqual(eds.resource_names, ['a', 'b']);

  call.write({ version_info: 'v2', type_url: TypeUrl.Cluster, nonce: 'n2', resources: [cluster('a'), cluster('bad')] });
  const nack = await q.next((r) => r.type_url === TypeUrl.Cluster && r.response_nonce === 'n2');
  assert.equal(nack.version_info, 'v1');
  assert.match(nack.error_detail?.message ?? '', /Cluster bad: unsupported lb_policy MAGLEV/);
  assert.deepEqual(applied.map((a) => a.version), ['v1']);
  assert.equal(client.status().types[TypeUrl.Cluster]?.error, 'Cluster bad: unsupported lb_policy MAGLEV');
});

test('an update applied asynchronously (listeners binding) is answered when it settles; the next response waits for it', async (t) => {
  let gotCall!: (c: Call) => void;
  const callP = new Promise<Call>((r) => (gotCall = r));
  const { server, port } = await startServer((c) => gotCall(c));
  t.after(() => server.forceShutdown());
  const order: string[] = [];
  const settle: ((err?: Error) => void)[] = [];
  const client = new AdsClient({
    address: `127.0.0.1:${port}`,
    node: { id: 'sidecar~10.0.0.1~a.ns~ns.svc.cluster.local', metadata: {} },
    subscriber: {
      apply(typeUrl: string, _resources: TypedAny[], version: string) {
        order.push(`apply ${version}`);
        if (typeUrl !== TypeUrl.Listener) return;
        return new Promise<void>((resolve, reject) => settle.push((err) => (err ? reject(err) : resolve())));
      },
      resourceNames: (typeUrl: string) => (typeUrl === TypeUrl.Cluster || typeUrl === TypeUrl.Listener ? undefined : []),
    },
  });
  t.after(() => client.stop());
  client.start();
  const call = await callP;
  const q = requestQueue(call);
  await q.next((r) => r.type_url === TypeUrl.Listener && !r.response_nonce);
  const lds = (v: string, n: string) => call.write({ version_info: v, type_url: TypeUrl.Listener, nonce: n, resources: [] });
  lds('v1', 'l1');
  call.write({ version_info: 'c1', type_url: TypeUrl.Cluster, nonce: 'c1', resources: [cluster('a')] });
  lds('v2', 'l2');
  await until(() => settle.length === 1);
  // Nothing after the pending update is applied, nor is it answered, until it settles.
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['apply v1']);
  settle[0]?.(new Error("Error adding/updating listener(s) x: cannot bind '0.0.0.0:1': Address already in use"));
  const nack = await q.next((r) => r.response_nonce === 'l1');
  assert.equal(nack.error_detail?.message, "Error adding/updating listener(s) x: cannot bind '0.0.0.0:1': Address already in use");
  assert.equal(nack.version_info, '');
  assert.equal((await q.next((r) => r.response_nonce === 'c1')).version_info, 'c1');
  await until(() => settle.length === 2);
  assert.deepEqual(order, ['apply v1', 'apply c1', 'apply v2']);
  settle[1]?.();
  const ack = await q.next((r) => r.response_nonce === 'l2');
  assert.equal(ack.version_info, 'v2');
  assert.equal(ack.error_detail, undefined);
  assert.equal(client.status().types[TypeUrl.Listener]?.error, undefined);
});

/** Waits (bounded, on I/O turns) until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'never happened');
}

test('keeps the last good config when the control plane goes away and resyncs when it returns', async (t) => {
  let gotCall!: (c: Call) => void;
  let callP = new Promise<Call>((r) => (gotCall = r));
  let { server, port } = await startServer((c) => gotCall(c));
  const { subscriber, applied } = makeSubscriber();
  const events: AdsEvent[] = [];
  const client = new AdsClient({
    address: `127.0.0.1:${port}`,
    node: { id: 'router~10.0.0.2~gw.ns~ns.svc.cluster.local', metadata: {} },
    subscriber,
    backoff: { initialMs: 20, maxMs: 100 },
    onEvent: (e) => events.push(e),
  });
  t.after(() => client.stop());
  client.start();
  let call = await callP;
  let q = requestQueue(call);
  await q.next((r) => r.type_url === TypeUrl.Cluster);
  call.write({ version_info: 'v1', type_url: TypeUrl.Cluster, nonce: 'n1', resources: [cluster('a')] });
  await q.next((r) => r.response_nonce === 'n1');

  callP = new Promise<Call>((r) => (gotCall = r));
  server.forceShutdown();
  ({ server } = await startServer((c) => gotCall(c), port));
  t.after(() => server.forceShutdown());
  call = await callP;
  q = requestQueue(call);
  const resync = await q.next((r) => r.type_url === TypeUrl.Cluster);
  assert.equal(resync.version_info, 'v1', 'presents the version it still serves');
  assert.ok(resync.node, 'a new stream carries the node again');
  assert.ok(events.some((e) => e.kind === 'disconnected'));
  assert.deepEqual(applied.map((a) => a.names), [['a']]);
});

test('a response over 4 MiB (a mesh with many services) is taken, not refused with the stream', async (t) => {
  let gotCall!: (c: Call) => void;
  const callP = new Promise<Call>((r) => (gotCall = r));
  const { server, port } = await startServer((c) => gotCall(c));
  t.after(() => server.forceShutdown());
  const { subscriber, applied } = makeSubscriber();
  const events: AdsEvent[] = [];
  const client = new AdsClient({ address: `127.0.0.1:${port}`, node: { id: 'sidecar~10.0.0.1~a.ns~ns.svc.cluster.local', metadata: {} }, subscriber, onEvent: (e) => events.push(e) });
  t.after(() => client.stop());
  client.start();
  const call = await callP;
  const q = requestQueue(call);
  await q.next((r) => r.type_url === TypeUrl.Cluster);
  // 40,000 clusters with long names: about 5 MiB encoded.
  const many = Array.from({ length: 40_000 }, (_, i) => cluster(`outbound|80||service-${i}.some-namespace.svc.cluster.local`));
  call.write({ version_info: 'big', type_url: TypeUrl.Cluster, nonce: 'n-big', resources: many });
  const ack = await Promise.race([
    q.next((r) => r.type_url === TypeUrl.Cluster && r.response_nonce === 'n-big'),
    new Promise<undefined>((resolve) => call.once('cancelled', () => resolve(undefined))),
    new Promise<undefined>((resolve) => call.once('finish', () => resolve(undefined))),
  ]);
  assert.ok(ack, `no ACK: ${JSON.stringify(events.filter((e) => e.kind === 'disconnected'))}`);
  assert.equal(ack.version_info, 'big');
  assert.equal(applied.at(-1)?.names.length, 40_000);
});

test('an answer that throws, behind an asynchronous apply, neither rejects unhandled nor holds back the responses after it', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));
  let gotCall!: (c: Call) => void;
  const callP = new Promise<Call>((r) => (gotCall = r));
  const { server, port } = await startServer((c) => gotCall(c));
  t.after(() => server.forceShutdown());
  const applied: string[] = [];
  let settle: () => void = () => {};
  const client = new AdsClient({
    address: `127.0.0.1:${port}`,
    node: { id: 'sidecar~10.0.0.1~a.ns~ns.svc.cluster.local', metadata: {} },
    subscriber: {
      apply(typeUrl: string, _resources: TypedAny[], version: string) {
        applied.push(version);
        if (typeUrl === TypeUrl.Listener) return new Promise<void>((resolve) => (settle = resolve));
      },
      resourceNames: (typeUrl: string) => (typeUrl === TypeUrl.Cluster || typeUrl === TypeUrl.Listener ? undefined : []),
    },
    // Stands for whatever in answering may throw: the first cluster ACK's event.
    onEvent: (e: AdsEvent) => {
      if (e.kind === 'ack' && e.typeUrl === TypeUrl.Cluster && e.version === 'c1') throw new Error('answer threw');
    },
  });
  t.after(() => client.stop());
  client.start();
  const call = await callP;
  const q = requestQueue(call);
  await q.next((r) => r.type_url === TypeUrl.Listener && !r.response_nonce);
  call.write({ version_info: 'v1', type_url: TypeUrl.Listener, nonce: 'l1', resources: [] });
  call.write({ version_info: 'c1', type_url: TypeUrl.Cluster, nonce: 'c1', resources: [cluster('a')] });
  call.write({ version_info: 'c2', type_url: TypeUrl.Cluster, nonce: 'c2', resources: [cluster('b')] });
  await until(() => applied.length === 1);
  settle();
  await until(() => applied.includes('c2'));
  assert.deepEqual(applied, ['v1', 'c1', 'c2']);
  assert.equal((await q.next((r) => r.response_nonce === 'c2')).version_info, 'c2');
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(unhandled, []);
});

test('a response of a type never subscribed to is ignored, unanswered, as Envoy\'s "no current subscribers"', { timeout: 10_000 }, async (t) => {
  let gotCall!: (c: Call) => void;
  const callP = new Promise<Call>((r) => (gotCall = r));
  const { server, port } = await startServer((c) => gotCall(c));
  t.after(() => server.forceShutdown());
  const { subscriber, applied } = makeSubscriber();
  const client = new AdsClient({ address: `127.0.0.1:${port}`, node: { id: 'n', metadata: {} }, subscriber });
  t.after(() => client.stop());
  client.start();
  const q = requestQueue(await callP);
  await q.next((r) => r.type_url === TypeUrl.Cluster);
  const ecds = 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig';
  (await callP).write({ version_info: 'v1', type_url: ecds, nonce: 'x1', resources: [] });
  (await callP).write({ version_info: 'v1', type_url: TypeUrl.Cluster, nonce: 'n1', resources: [cluster('a')] });
  await q.next((r) => r.type_url === TypeUrl.Cluster && r.response_nonce === 'n1');
  // Answers go in order: one to the first response would have come before this ACK.
  const answered = await Promise.race([q.next((r) => r.type_url === ecds), new Promise<undefined>((r) => setTimeout(r, 50))]);
  assert.equal(answered, undefined, 'an answer, NACK or ACK, would subscribe the proxy to it');
  assert.deepEqual(applied.map((a) => a.typeUrl), [TypeUrl.Cluster]);
  assert.equal(client.status().types[ecds], undefined);
});

test('a type whose last name goes is unsubscribed with an empty resource_names; a response for it then is not applied', { timeout: 10_000 }, async (t) => {
  let gotCall!: (c: Call) => void;
  const callP = new Promise<Call>((r) => (gotCall = r));
  const { server, port } = await startServer((c) => gotCall(c));
  t.after(() => server.forceShutdown());
  const { subscriber, applied } = makeSubscriber();
  const client = new AdsClient({ address: `127.0.0.1:${port}`, node: { id: 'n', metadata: {} }, subscriber });
  t.after(() => client.stop());
  client.start();
  const call = await callP;
  const q = requestQueue(call);
  await q.next((r) => r.type_url === TypeUrl.Cluster);
  call.write({ version_info: 'v1', type_url: TypeUrl.Cluster, nonce: 'n1', resources: [cluster('a')] });
  await q.next((r) => r.type_url === TypeUrl.ClusterLoadAssignment && (r.resource_names ?? []).includes('a'));
  call.write({ version_info: 'v1', type_url: TypeUrl.ClusterLoadAssignment, nonce: 'e1', resources: [packAny(TypeUrl.ClusterLoadAssignment, { cluster_name: 'a' })] });
  await q.next((r) => r.type_url === TypeUrl.ClusterLoadAssignment && r.response_nonce === 'e1');
  call.write({ version_info: 'v2', type_url: TypeUrl.Cluster, nonce: 'n2', resources: [] });
  const unsubscribe = await q.next((r) => r.type_url === TypeUrl.ClusterLoadAssignment && (r.resource_names ?? []).length === 0);
  assert.equal(unsubscribe.version_info, 'v1', 'Envoy sends the names of the watches left: none');
  // A server that took the empty list for a wildcard: nothing is applied, and the request goes again at the
  // version held, with no error (Envoy's "Ignoring unwatched type URL").
  call.write({ version_info: 'v9', type_url: TypeUrl.ClusterLoadAssignment, nonce: 'e9', resources: [packAny(TypeUrl.ClusterLoadAssignment, { cluster_name: 'b' })] });
  const again = await q.next((r) => r.type_url === TypeUrl.ClusterLoadAssignment && r.response_nonce === 'e9');
  assert.deepEqual(again.resource_names ?? [], []);
  assert.equal(again.version_info, 'v1');
  assert.equal(again.error_detail ?? undefined, undefined);
  assert.ok(!applied.some((a) => a.version === 'v9'));
});
