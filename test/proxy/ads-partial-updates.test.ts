// The proxy's ADS client against a scripted control plane speaking as istiod does: EDS and RDS responses
// carry only what changed (the xDS protocol's non-wildcard types), EDS clusters and listeners warm until
// their resources arrive (initial_fetch_timeout, 0s = forever, as istiod writes it), and an updated
// listener keeps its old version serving until its new routes arrive, as Envoy's listener warming.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { DiscoveryRequest, DiscoveryResponse } from '../../src/xds/ads-client.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { packAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, hcm, listener, ManualTimers, request, routeConfig, startProxy, tcpProxy } from './harness.ts';
import { adsServiceDefinition } from '../../src/xds/ads-server.ts';

type Call = grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;

/** An ADS server the test scripts: it records requests; the test writes each response. */
/** A proxy started against a scripted ADS server (with `opts`), both closed after `run`. */
async function withScriptedProxy(opts: Omit<Parameters<typeof startProxy>[0] & object, 'xdsAddress'>, run: (xds: Awaited<ReturnType<typeof scriptedAds>>, env: Awaited<ReturnType<typeof startProxy>>) => Promise<void>): Promise<void> {
  const xds = await scriptedAds();
  const env = await startProxy({ ...opts, xdsAddress: xds.address });
  try {
    await run(xds, env);
  } finally {
    await env.close();
    xds.close();
  }
}

async function scriptedAds() {
  const requests: DiscoveryRequest[] = [];
  const waiters: { pred: (r: DiscoveryRequest) => boolean; resolve: (r: DiscoveryRequest) => void }[] = [];
  let call: Call | undefined;
  let nonce = 0;
  const server = new grpc.Server();
  server.addService(
    adsServiceDefinition,
    {
      StreamAggregatedResources: ((c: Call) => {
        call = c;
        c.on('error', () => {});
        c.on('data', (r: DiscoveryRequest) => {
          const i = waiters.findIndex((w) => w.pred(r));
          if (i >= 0) waiters.splice(i, 1)[0]?.resolve(r);
          else requests.push(r);
        });
      }) as grpc.handleBidiStreamingCall<DiscoveryRequest, DiscoveryResponse>,
    },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  /** The first request (seen or to come) that matches; rejects after `ms`. */
  const next = (pred: (r: DiscoveryRequest) => boolean, ms = 3000): Promise<DiscoveryRequest> => {
    const i = requests.findIndex(pred);
    if (i >= 0) return Promise.resolve(requests.splice(i, 1)[0] as DiscoveryRequest);
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        resolve: (r: DiscoveryRequest) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error('no such request'));
      }, ms);
      waiters.push(waiter);
    });
  };
  return {
    address: `127.0.0.1:${port}`,
    next,
    /** Writes a response and resolves with its ACK or NACK. */
    async send(typeUrl: string, version: string, list: TypedAny[]): Promise<DiscoveryRequest> {
      const n = String(++nonce);
      for (let i = 0; i < 300 && !call; i++) await new Promise((r) => setTimeout(r, 10));
      const resources = list.map(({ '@type': _type, ...rest }) => packAny(typeUrl, rest));
      call?.write({ version_info: version, type_url: typeUrl, nonce: n, resources });
      return next((r) => r.type_url === typeUrl && r.response_nonce === n);
    },
    close: () => server.forceShutdown(),
  };
}

const names = (r: DiscoveryRequest) => [...(r.resource_names ?? [])].sort();
const direct = (name: string, body: string) => routeConfig(name, [{ domains: ['*'], routes: [{ prefix: '/', direct: { status: 200, body } }] }]);
/** An RDS or EDS config source as istiod writes it: no initial fetch timeout. */
const waitForever = { ads: {}, initial_fetch_timeout: { seconds: '0' }, resource_api_version: 'V3' };

test('an EDS response naming some clusters leaves the others\' endpoints; a cluster removed takes its assignment with it', async () => {
  await withScriptedProxy({}, async (xds, env) => {
    await xds.next((r) => r.type_url === TypeUrl.Cluster);
    await xds.send(TypeUrl.Cluster, 'v1', [cluster('a'), cluster('b')]);
    await xds.next((r) => r.type_url === TypeUrl.ClusterLoadAssignment);
    await xds.send(TypeUrl.ClusterLoadAssignment, 'v1', [cla('a', [{ port: 1001 }]), cla('b', [{ port: 1002 }])]);
    // istiod's incremental EDS: only the assignment of the service that changed.
    const ack = await xds.send(TypeUrl.ClusterLoadAssignment, 'v2', [cla('a', [{ port: 1003 }])]);
    assert.equal(ack.error_detail, undefined);
    assert.equal(env.proxy.clusters.get('a')?.endpoints[0]?.port, 1003);
    assert.equal(env.proxy.clusters.get('b')?.endpoints[0]?.port, 1002, "b's endpoints stay");
    assert.deepEqual([...env.proxy.xds.dump(TypeUrl.ClusterLoadAssignment).keys()].sort(), ['a', 'b']);

    await xds.send(TypeUrl.Cluster, 'v2', [cluster('a')]);
    assert.deepEqual([...env.proxy.xds.dump(TypeUrl.ClusterLoadAssignment).keys()], ['a']);
    // Back again, b warms anew: its old assignment went with it.
    await xds.send(TypeUrl.Cluster, 'v3', [cluster('a'), cluster('b')]);
    assert.deepEqual(env.proxy.clusters.get('b')?.endpoints, []);
    assert.equal(env.proxy.xds.endpointsWarm(), false);
  });
});

test('an RDS response with only a newly named route keeps the routes held; routes no listener names go', async () => {
  await withScriptedProxy({}, async (xds, env) => {
    await xds.next((r) => r.type_url === TypeUrl.Listener);
    await xds.send(TypeUrl.Listener, 'v1', [listener('l1', 8080, [{ filter: hcm('r1') }])]);
    await xds.next((r) => r.type_url === TypeUrl.RouteConfiguration && names(r).includes('r1'));
    await xds.send(TypeUrl.RouteConfiguration, 'v1', [direct('r1', 'one')]);
    await xds.send(TypeUrl.Listener, 'v2', [listener('l1', 8080, [{ filter: hcm('r1') }]), listener('l2', 9090, [{ filter: hcm('r2') }])]);
    await xds.next((r) => r.type_url === TypeUrl.RouteConfiguration && names(r).includes('r2'));
    // istiod answers a new subscription with the newly subscribed names only.
    await xds.send(TypeUrl.RouteConfiguration, 'v2', [direct('r2', 'two')]);
    assert.ok(env.proxy.xds.routeTable('r1'), 'r1 stays');
    assert.equal((await request(await env.port('l1'), '/', { host: 'x' })).body, 'one');
    assert.equal((await request(await env.port('l2'), '/', { host: 'x' })).body, 'two');

    await xds.send(TypeUrl.Listener, 'v3', [listener('l2', 9090, [{ filter: hcm('r2') }])]);
    assert.equal(env.proxy.xds.routeTable('r1'), undefined);
    assert.deepEqual([...env.proxy.xds.dump(TypeUrl.RouteConfiguration).keys()], ['r2']);
    assert.deepEqual(names(await xds.next((r) => r.type_url === TypeUrl.RouteConfiguration && !names(r).includes('r1'))), ['r2']);
  });
});

test('an SDS response with only the secret that changed keeps the others; a secret nothing names any more goes', async () => {
  const xds = await scriptedAds();
  const env = await startProxy({ xdsAddress: xds.address });
  const ca = await makeCa('sds-partial');
  const pair = await ca.issueWithSans([{ type: 'dns', value: 'gw.example.com' }]);
  const rootCa = (pem: string) => ({ '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: pem } } });
  const gwCert = { '@type': TypeUrl.Secret, name: 'gw-cert', tls_certificate: { certificate_chain: { inline_string: pair.cert }, private_key: { inline_string: pair.key } } };
  const tls = { '@type': TypeUrl.DownstreamTlsContext, common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'gw-cert' }] } };
  try {
    await xds.next((r) => r.type_url === TypeUrl.Listener);
    await xds.send(TypeUrl.Listener, 'v1', [listener('gw', 8443, [{ filter: tcpProxy('b'), tls }])]);
    await xds.next((r) => r.type_url === TypeUrl.Secret && names(r).includes('gw-cert'));
    await xds.send(TypeUrl.Secret, 'v1', [rootCa(ca.ca), gwCert]);
    // istiod's SecretGen on a push that changed one secret: that one only.
    await xds.send(TypeUrl.Secret, 'v2', [rootCa(`${ca.ca}\n`)]);
    assert.equal(env.proxy.secrets.get('gw-cert')?.cert, pair.cert);
    assert.deepEqual([...env.proxy.xds.dump(TypeUrl.Secret).keys()].sort(), ['ROOTCA', 'gw-cert']);

    await xds.send(TypeUrl.Listener, 'v2', []);
    assert.equal(env.proxy.secrets.get('gw-cert'), undefined);
    assert.deepEqual([...env.proxy.xds.dump(TypeUrl.Secret).keys()], ['ROOTCA']);
  } finally {
    await env.close();
    xds.close();
  }
});

test('the proxy is not ready while an EDS cluster has no ClusterLoadAssignment, up to its initial_fetch_timeout (0s: forever)', async () => {
  let now = 1_000_000;
  await withScriptedProxy({ now: () => now }, async (xds, env) => {
    await xds.next((r) => r.type_url === TypeUrl.Cluster);
    const istiod = { ...cluster('b'), eds_cluster_config: { service_name: 'b', eds_config: waitForever } };
    await xds.send(TypeUrl.Cluster, 'v1', [cluster('a'), istiod]);
    await xds.next((r) => r.type_url === TypeUrl.Listener);
    await xds.send(TypeUrl.Listener, 'v1', []);
    assert.equal(env.proxy.ready(), false, 'no assignment yet');
    await xds.send(TypeUrl.ClusterLoadAssignment, 'v1', [cla('a', [{ port: 1001 }])]);
    now += 20_000;
    assert.equal(env.proxy.ready(), false, "b's config source waits forever");
    await xds.send(TypeUrl.ClusterLoadAssignment, 'v2', [cla('b', [])]);
    assert.equal(env.proxy.ready(), true);

    // Initialized: a cluster that comes later warms on its own, and the proxy stays ready (Envoy's LIVE).
    await xds.send(TypeUrl.Cluster, 'v2', [cluster('a'), istiod, cluster('c')]);
    assert.equal(env.proxy.xds.endpointsWarm(), false);
    assert.equal(env.proxy.ready(), true);
    // Without initial_fetch_timeout, Envoy's 15 s.
    now += 15_000;
    assert.equal(env.proxy.xds.endpointsWarm(), true);
  });
});

test('routes whose RDS config source says initial_fetch_timeout 0s (istiod\'s) are waited for past Envoy\'s 15 s default', async () => {
  let now = 1_000_000;
  await withScriptedProxy({ now: () => now }, async (xds, env) => {
    await xds.next((r) => r.type_url === TypeUrl.Cluster);
    await xds.send(TypeUrl.Cluster, 'v1', []);
    await xds.next((r) => r.type_url === TypeUrl.Listener);
    const h = hcm('r1', { rds: { route_config_name: 'r1', config_source: waitForever } });
    await xds.send(TypeUrl.Listener, 'v1', [listener('l1', 8080, [{ filter: h }])]);
    now += 20_000;
    assert.equal(env.proxy.ready(), false);
    await xds.send(TypeUrl.RouteConfiguration, 'v1', [direct('r1', 'one')]);
    assert.equal(env.proxy.ready(), true);
  });
});

test('a listener updated to name a route not held keeps its old version serving until the route arrives (listener warming)', async () => {
  await withScriptedProxy({}, async (xds, env) => {
    await xds.next((r) => r.type_url === TypeUrl.Listener);
    await xds.send(TypeUrl.Listener, 'v1', [listener('l1', 8080, [{ filter: hcm('r1') }])]);
    await xds.send(TypeUrl.RouteConfiguration, 'v1', [direct('r1', 'old')]);
    const port = await env.port('l1');
    await xds.send(TypeUrl.Listener, 'v2', [listener('l1', 8080, [{ filter: hcm('r2') }])]);
    const warming = await xds.next((r) => r.type_url === TypeUrl.RouteConfiguration && names(r).includes('r2'));
    assert.deepEqual(names(warming), ['r1', 'r2'], 'the old version still watches its routes');
    assert.equal((await request(port, '/', { host: 'x' })).body, 'old');
    await xds.send(TypeUrl.RouteConfiguration, 'v2', [direct('r2', 'new')]);
    assert.equal((await request(port, '/', { host: 'x' })).body, 'new');
    assert.deepEqual(names(await xds.next((r) => r.type_url === TypeUrl.RouteConfiguration && !names(r).includes('r1'))), ['r2']);
  });
});

test('an outbound listener the forward proxy consults (bind_to_port false) warms alike', async () => {
  const xds = await scriptedAds();
  const env = await startProxy({ xdsAddress: xds.address });
  const outbound = (route: string) => listener('0.0.0.0_8080', 8080, [{ filter: hcm(route) }], { bind_to_port: { value: false } });
  const forward = listener('virtualOutbound', 15001, [{ port: 9, filter: tcpProxy('none') }]);
  try {
    await xds.next((r) => r.type_url === TypeUrl.Listener);
    await xds.send(TypeUrl.Listener, 'v1', [forward, outbound('r1')]);
    await xds.send(TypeUrl.RouteConfiguration, 'v1', [direct('r1', 'old')]);
    const port = await env.port('virtualOutbound');
    assert.equal((await request(port, 'http://svc:8080/', { host: 'svc:8080' })).body, 'old');
    await xds.send(TypeUrl.Listener, 'v2', [forward, outbound('r2')]);
    assert.equal((await request(port, 'http://svc:8080/', { host: 'svc:8080' })).body, 'old');
    await xds.send(TypeUrl.RouteConfiguration, 'v2', [direct('r2', 'new')]);
    assert.equal((await request(port, 'http://svc:8080/', { host: 'svc:8080' })).body, 'new');
  } finally {
    await env.close();
    xds.close();
  }
});

test('a warming listener takes over when its route is refused, or when its initial fetch times out', async () => {
  const timers = new ManualTimers();
  await withScriptedProxy({ timers }, async (xds, env) => {
    await xds.next((r) => r.type_url === TypeUrl.Listener);
    await xds.send(TypeUrl.Listener, 'v1', [listener('l1', 8080, [{ filter: hcm('r1') }])]);
    await xds.send(TypeUrl.RouteConfiguration, 'v1', [direct('r1', 'old')]);
    const port = await env.port('l1');
    await xds.send(TypeUrl.Listener, 'v2', [listener('l1', 8080, [{ filter: hcm('r2') }])]);
    const bad = direct('r2', 'new');
    (bad as unknown as { virtual_hosts: { routes: Record<string, unknown>[] }[] }).virtual_hosts[0]!.routes[0]!['match'] = { safe_regex: { regex: '(' } };
    assert.ok((await xds.send(TypeUrl.RouteConfiguration, 'v2', [bad])).error_detail);
    assert.equal((await request(port, '/', { host: 'x' })).status, 404, 'the new version serves what it has');

    await xds.send(TypeUrl.Listener, 'v3', [listener('l1', 8080, [{ filter: hcm('r3') }])]);
    assert.equal((await request(port, '/', { host: 'x' })).status, 404, 'still the version before');
    assert.ok(timers.fire(15_000), "Envoy's default initial_fetch_timeout");
    assert.deepEqual(names(await xds.next((r) => r.type_url === TypeUrl.RouteConfiguration && names(r).join() === 'r3')), ['r3']);
  });
});

test("a listener still warming keeps its wait when an update repeats it: another listener's change does not restart the timeout", async () => {
  const timers = new ManualTimers();
  await withScriptedProxy({ timers }, async (xds, env) => {
    await xds.next((r) => r.type_url === TypeUrl.Listener);
    await xds.send(TypeUrl.Listener, 'v1', [listener('l1', 8080, [{ filter: hcm('r1') }])]);
    await xds.send(TypeUrl.RouteConfiguration, 'v1', [direct('r1', 'old')]);
    const port = await env.port('l1');
    const moved = listener('l1', 8080, [{ filter: hcm('r2') }]);
    const waits = () => [...timers.pending].filter(([, t]) => t.ms === 15_000).map(([id]) => id);
    await xds.send(TypeUrl.Listener, 'v2', [moved]);
    const wait = waits();
    assert.equal(wait.length, 1);
    await xds.send(TypeUrl.Listener, 'v3', [moved, listener('other', 9090, [{ filter: hcm('r1') }])]);
    assert.deepEqual(waits(), wait, 'the same wait, not a new one');
    assert.equal((await request(port, '/', { host: 'x' })).body, 'old');
    assert.ok(timers.fire(15_000));
    assert.equal((await request(port, '/', { host: 'x' })).status, 404, 'the new version (its routes missing) serves');
  });
});

test('an assignment no EDS cluster watches (in flight for a cluster just removed) is dropped: the cluster added back warms anew', async () => {
  await withScriptedProxy({}, async (xds, env) => {
    await xds.next((r) => r.type_url === TypeUrl.Cluster);
    await xds.send(TypeUrl.Cluster, 'v1', [cluster('a'), cluster('b')]);
    await xds.send(TypeUrl.ClusterLoadAssignment, 'v1', [cla('a', [{ port: 1001 }]), cla('b', [{ port: 1002 }])]);
    await xds.send(TypeUrl.Cluster, 'v2', [cluster('a')]);
    // Sent before the server read the proxy's new EDS names.
    await xds.send(TypeUrl.ClusterLoadAssignment, 'v2', [cla('a', [{ port: 1001 }]), cla('b', [{ port: 9999 }])]);
    assert.deepEqual([...env.proxy.xds.dump(TypeUrl.ClusterLoadAssignment).keys()], ['a']);
    await xds.send(TypeUrl.Cluster, 'v3', [cluster('a'), cluster('b')]);
    assert.deepEqual(env.proxy.clusters.get('b')?.endpoints, []);
    assert.equal(env.proxy.xds.endpointsWarm(), false);
  });
});
