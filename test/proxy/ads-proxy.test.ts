// The proxy against a small in-test ADS server: config arrives over gRPC, a bad listener is NACKed with
// its reason while traffic continues on the last good config (one that cannot bind its port too, once
// the bind has failed), and traffic survives the control plane.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { DiscoveryRequest, DiscoveryResponse } from '../../src/xds/ads-client.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { packAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, echoBackend, hcm, listener, request, routeConfig, startProxy } from './harness.ts';
import { adsServiceDefinition } from '../../src/xds/ads-server.ts';

type Call = grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;

let server: grpc.Server;
let env: Awaited<ReturnType<typeof startProxy>>;
let xdsAddress = '';
const logs: string[] = [];
let backend: Awaited<ReturnType<typeof echoBackend>>;
const calls: Call[] = [];
const requests: DiscoveryRequest[] = [];
const waiters: { pred: (r: DiscoveryRequest) => boolean; resolve: (r: DiscoveryRequest) => void }[] = [];
let resources = new Map<string, TypedAny[]>();
let version = 1;
let nonce = 0;
/** Holds the port the proxy's port map sends BUSY_PORT to, until a test frees it. */
let holder: net.Server;
let heldPort = 0;
const BUSY_PORT = 6060;

/** Every port ephemeral, as the harness maps them, but BUSY_PORT to the one the test holds. */
class PortMap extends Map<number, number> {
  override get(port: number): number {
    return super.get(port) ?? 0;
  }
}

/** Sends the current state of one type; returns the response's nonce. */
function send(call: Call, typeUrl: string): string {
  const list = resources.get(typeUrl) ?? [];
  const n = String(++nonce);
  call.write({ version_info: `v${version}`, type_url: typeUrl, nonce: n, resources: list.map((r) => packAny(typeUrl, withoutType(r))) });
  return n;
}

function withoutType(r: TypedAny): object {
  const { '@type': _t, ...rest } = r;
  return rest;
}

function nextRequest(pred: (r: DiscoveryRequest) => boolean): Promise<DiscoveryRequest> {
  const found = requests.find(pred);
  if (found) return Promise.resolve(found);
  return new Promise((resolve) => waiters.push({ pred, resolve }));
}

const router = { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } };

before(async () => {
  backend = await echoBackend();
  resources = new Map([
    [TypeUrl.Cluster, [{ '@type': TypeUrl.Cluster, name: 'echo', eds_cluster_config: { service_name: 'echo' } }]],
    [TypeUrl.ClusterLoadAssignment, [cla('echo', [{ port: backend.port }])]],
    [TypeUrl.Listener, [listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }])]],
    [TypeUrl.RouteConfiguration, [routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'echo' }] }])]],
  ]);
  server = new grpc.Server();
  server.addService(
    adsServiceDefinition,
    {
      StreamAggregatedResources: ((call: Call) => {
        calls.push(call);
        call.on('error', () => {});
        call.on('data', (r: DiscoveryRequest) => {
          requests.push(r);
          for (let i = waiters.length - 1; i >= 0; i--) {
            const w = waiters[i];
            if (w?.pred(r)) {
              waiters.splice(i, 1);
              w.resolve(r);
            }
          }
          // A request without a nonce (or with new names) asks for the current state.
          if (!r.response_nonce || (r.resource_names?.length && !r.error_detail && r.version_info === '')) send(call, r.type_url);
        });
      }) as grpc.handleBidiStreamingCall<DiscoveryRequest, DiscoveryResponse>,
    },
  );
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  xdsAddress = `127.0.0.1:${port}`;
  holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  heldPort = (holder.address() as net.AddressInfo).port;
  env = await startProxy({ xdsAddress, token: 'secret-token', portMap: new PortMap([[BUSY_PORT, heldPort]]), onLog: (level, message) => logs.push(`${level} ${message}`) });
  await nextRequest((r) => r.type_url === TypeUrl.RouteConfiguration && !!r.version_info);
});

after(async () => {
  holder.close();
  server.forceShutdown();
  await env.close();
  backend.server.close();
});

test('serves traffic on config received over ADS and reports readiness', async () => {
  const res = await request(await env.port('0.0.0.0_8080'), '/over-ads', { host: 'any.example' });
  assert.equal(res.status, 200);
  assert.equal(calls[0]?.metadata.get('authorization')[0], 'Bearer secret-token');
  assert.equal(env.proxy.ready(), true);
});

test('an unknown HTTP filter is NACKed with the reason; traffic continues on the last good listener', async () => {
  version = 2;
  const bad = listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080', { http_filters: [{ name: 'acme.filters.http.mystery', typed_config: { '@type': TypeUrl.TypedStruct, type_url: 'acme.dev/Mystery', value: { fields: {} } } }, router] }) }]);
  resources.set(TypeUrl.Listener, [bad]);
  for (const c of calls) send(c, TypeUrl.Listener);
  const nack = await nextRequest((r) => r.type_url === TypeUrl.Listener && r.error_detail !== undefined && r.error_detail !== null);
  assert.match(nack.error_detail?.message ?? '', /Listener 0\.0\.0\.0_8080\.filter_chains\[0\]\.filters\[0\]\.http_filters\[0\]: typed_config: unknown HTTP filter acme\.filters\.http\.mystery/);
  assert.equal(nack.version_info, 'v1');
  const res = await request(await env.port('0.0.0.0_8080'), '/still', { host: 'any.example' });
  assert.equal(res.status, 200);
});

test('an optional unknown filter is skipped and ACKed', async () => {
  version = 3;
  const ok = listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080', { http_filters: [{ name: 'acme.optional', is_optional: true, typed_config: { '@type': TypeUrl.TypedStruct, type_url: 'acme.dev/Opt', value: { fields: {} } } }, router] }) }]);
  resources.set(TypeUrl.Listener, [ok]);
  for (const c of calls) send(c, TypeUrl.Listener);
  const ack = await nextRequest((r) => r.type_url === TypeUrl.Listener && r.version_info === 'v3');
  assert.ok(!ack.error_detail);
});

test('after the initial fetch, a listener whose route configuration has not arrived warms on its own: the proxy stays ready, as Envoy stays LIVE', async () => {
  version = 4;
  const two = [listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]), listener('0.0.0.0_9090', 9090, [{ filter: hcm('http.9090') }])];
  resources.set(TypeUrl.Listener, two);
  for (const c of calls) send(c, TypeUrl.Listener);
  await nextRequest((r) => r.type_url === TypeUrl.RouteConfiguration && (r.resource_names ?? []).includes('http.9090'));
  assert.equal(env.proxy.ready(), true, 'http.9090 named, not yet received');
  resources.set(TypeUrl.RouteConfiguration, [...(resources.get(TypeUrl.RouteConfiguration) ?? []), routeConfig('http.9090', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'echo' }] }])]);
  for (const c of calls) send(c, TypeUrl.RouteConfiguration);
  await nextRequest((r) => r.type_url === TypeUrl.RouteConfiguration && r.version_info === 'v4');
  assert.equal(env.proxy.ready(), true);
});

test('a refused route configuration: the proxy stays ready, serving what it has, as Envoy', async () => {
  version = 5;
  const three = [...(resources.get(TypeUrl.Listener) ?? []), listener('0.0.0.0_7070', 7070, [{ filter: hcm('http.7070') }])];
  resources.set(TypeUrl.Listener, three);
  for (const c of calls) send(c, TypeUrl.Listener);
  await nextRequest((r) => r.type_url === TypeUrl.RouteConfiguration && (r.resource_names ?? []).includes('http.7070'));
  assert.equal(env.proxy.ready(), true);
  const bad = routeConfig('http.7070', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'echo' }] }]);
  (bad as unknown as { virtual_hosts: { routes: Record<string, unknown>[] }[] }).virtual_hosts[0]!.routes[0]!['match'] = { safe_regex: { regex: '(' } };
  resources.set(TypeUrl.RouteConfiguration, [...(resources.get(TypeUrl.RouteConfiguration) ?? []), bad]);
  for (const c of calls) send(c, TypeUrl.RouteConfiguration);
  await nextRequest((r) => r.type_url === TypeUrl.RouteConfiguration && r.error_detail !== undefined && r.error_detail !== null);
  assert.equal(env.proxy.ready(), true);
  assert.equal((await request(await env.port('0.0.0.0_8080'), '/still-served', { host: 'any.example' })).status, 200);
});

test('a listener whose port is taken is NACKed once its bind fails, in Envoy\'s words; the others serve; a later push binds it', async () => {
  version = 6;
  const previous = resources.get(TypeUrl.Listener) ?? [];
  const busy = listener(`0.0.0.0_${BUSY_PORT}`, BUSY_PORT, [{ filter: hcm('http.8080') }]);
  resources.set(TypeUrl.Listener, [...previous, busy]);
  const [call] = calls;
  assert.ok(call);
  const sent = send(call, TypeUrl.Listener);
  const answer = await nextRequest((r) => r.type_url === TypeUrl.Listener && r.response_nonce === sent);
  // Envoy's LdsApiImpl and ListenSocketImpl::bind wording, with where the port map sent the port.
  assert.equal(answer.error_detail?.message, `Error adding/updating listener(s) 0.0.0.0_${BUSY_PORT}: cannot bind '0.0.0.0:${BUSY_PORT}': Address already in use (port map: 127.0.0.1:${heldPort})`);
  assert.equal(answer.version_info, 'v5', 'the NACK names the version still in force');
  assert.ok(logs.includes(`error listener '0.0.0.0_${BUSY_PORT}' failed to bind or apply socket options: cannot bind '0.0.0.0:${BUSY_PORT}': Address already in use (port map: 127.0.0.1:${heldPort})`), logs.join('\n'));
  assert.match(env.proxy.metrics.renderStats(), /^listener_manager\.listener_create_failure: 1$/m);
  // The listeners that were serving still are; the one that could not bind is not listed as bound.
  assert.equal((await request(await env.port('0.0.0.0_8080'), '/still', { host: 'any.example' })).status, 200);
  assert.equal((await env.proxy.listeners.boundPorts())[`0.0.0.0_${BUSY_PORT}`], undefined);
  assert.equal(env.proxy.ads?.status().types[TypeUrl.Listener]?.error, answer.error_detail?.message);

  // The port is free again: the next push binds it, and only then is it ACKed.
  await new Promise<void>((r) => holder.close(() => r()));
  version = 7;
  const again = send(call, TypeUrl.Listener);
  const ack = await nextRequest((r) => r.type_url === TypeUrl.Listener && r.response_nonce === again);
  assert.ok(!ack.error_detail, ack.error_detail?.message);
  assert.equal(ack.version_info, 'v7');
  assert.equal((await env.proxy.listeners.boundPorts())[`0.0.0.0_${BUSY_PORT}`], heldPort);
  assert.equal((await request(heldPort, '/now-bound', { host: 'any.example' })).status, 200);
  assert.equal((await request(await env.port('0.0.0.0_8080'), '/still', { host: 'any.example' })).status, 200);
});

test('keeps serving when the control plane goes away, and says once that its stream closed', async () => {
  server.forceShutdown();
  const res = await request(await env.port('0.0.0.0_8080'), '/after-cp', { host: 'any.example' });
  assert.equal(res.status, 200);
  // Until its first retry has failed too: a stream opened again to a control plane still down is not its return.
  for (let i = 0; i < 300 && !logs.some((l) => /^debug xDS stream to \S+: still closed/.test(l)); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(logs.some((l) => /^debug xDS stream to \S+: still closed/.test(l)), logs.join('\n'));
  assert.deepEqual(
    logs.filter((l) => l.includes('re-established')),
    [],
  );
  const said = logs.filter((l) => l.startsWith('warning xDS stream'));
  assert.equal(said.length, 1, logs.join('\n'));
  assert.match(said[0] as string, new RegExp(`^warning xDS stream to ${xdsAddress} closed \\(.+\\); serving the last config received, reconnecting$`));
});
