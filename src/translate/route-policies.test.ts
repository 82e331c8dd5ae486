// HTTPRoute policies as Istio translates them, from YAML to the sidecar's route and through the proxy's
// own compilers: a fault without a percentage injects nothing, a consistent-hash route retries on the
// same host (no previous_hosts), and every route honours a gRPC client's grpc-timeout up to its timeout.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { compileFaultConfig } from '../proxy/filters/fault/index.ts';
import type { TypedAny } from '../xds/any.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { buildProxyResources } from './proxy-resources.ts';
import { translateHeaders } from './route-policies.ts';

const client: ProxyView = {
  id: 'sidecar~127.0.0.1~web-0.shop~shop.svc.cluster.local',
  role: 'sidecar',
  namespace: 'shop',
  workloadName: 'web',
  serviceAccount: 'web',
  labels: { app: 'web' },
  ip: '127.0.0.1',
  appPorts: {},
};

const service = `
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec:
  selector: { app: api }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
`;

type Route = { name?: string; route?: Record<string, unknown>; typed_per_filter_config?: Record<string, TypedAny>; [field: string]: unknown };

/** The routes of api's virtual host on the client sidecar, by route name. */
function routes(yaml: string): Map<string, Route> {
  const { resources, diagnostics } = loadText(`${service}---${yaml}`, 'input.yaml');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const out = buildProxyResources(buildSnapshot(resources, [], '1'), client);
  const rc = out.get(TypeUrl.RouteConfiguration)?.get('80') as unknown as { virtual_hosts: { name: string; routes: Route[] }[] };
  const vh = rc.virtual_hosts.find((v) => v.name === 'api.shop.svc.cluster.local:80');
  assert.ok(vh, 'api has a virtual host');
  return new Map(vh.routes.map((r) => [r.name ?? '', r]));
}

const vs = (http: string) => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api, namespace: shop }
spec:
  hosts: [api]
  http:
${http}`;

test('fault: without a percentage nothing is aborted or delayed (Istio: "If not specified, no request will be aborted")', () => {
  const r = routes(
    vs(`    - name: abort-unset
      match: [{ uri: { prefix: /a } }]
      fault: { abort: { httpStatus: 500 } }
      route: [{ destination: { host: api } }]
    - name: delay-unset
      match: [{ uri: { prefix: /d } }]
      fault: { delay: { fixedDelay: 2s } }
      route: [{ destination: { host: api } }]
    - name: legacy-percent
      match: [{ uri: { prefix: /p } }]
      fault: { delay: { fixedDelay: 2s, percent: 30 }, abort: { grpcStatus: UNAVAILABLE, percentage: { value: 12.5 } } }
      route: [{ destination: { host: api } }]
    - name: unsupported
      match: [{ uri: { prefix: /u } }]
      fault: { delay: { exponentialDelay: 2s, percentage: { value: 100 } }, abort: { http2Error: REFUSED_STREAM, percentage: { value: 100 } } }
      route: [{ destination: { host: api } }]
`),
  );
  const fault = (name: string) => r.get(name)?.typed_per_filter_config?.['envoy.filters.http.fault'];
  const abortUnset = compileFaultConfig(fault('abort-unset') as TypedAny);
  assert.equal(abortUnset.abort?.httpStatus, 500);
  assert.equal(abortUnset.abort?.fraction.percent, 0, 'no request is aborted');
  const delayUnset = compileFaultConfig(fault('delay-unset') as TypedAny);
  assert.equal(delayUnset.delay?.ms, 2000);
  assert.equal(delayUnset.delay?.fraction.percent, 0, 'no request is delayed');
  const legacy = compileFaultConfig(fault('legacy-percent') as TypedAny);
  assert.equal(legacy.delay?.fraction.percent, 30);
  assert.equal(legacy.abort?.grpcStatus, 14);
  assert.equal(legacy.abort?.fraction.percent, 12.5);
  // Istio warns and drops an exponential delay and an HTTP/2 error abort: no fault config at all.
  assert.equal(fault('unsupported'), undefined);
});

test('retries: a consistent-hash route keeps its host on retry (no previous_hosts), others avoid tried hosts', () => {
  const dr = (lb: string) => `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: api, namespace: shop }
spec:
  host: api.shop.svc.cluster.local
  trafficPolicy: { loadBalancer: ${lb} }
  subsets: [{ name: plain, labels: { v: "1" }, trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } } }]
`;
  const http = `    - name: hashed
      match: [{ uri: { prefix: /h } }]
      route: [{ destination: { host: api } }]
      retries: { attempts: 3, retryOn: 5xx }
    - name: plain
      match: [{ uri: { prefix: /p } }]
      route: [{ destination: { host: api, subset: plain } }]
      retries: { attempts: 3, retryOn: 5xx }
    - name: hashed-default
      route: [{ destination: { host: api } }]
`;
  const r = routes(vs(http) + dr('{ consistentHash: { httpHeaderName: x-user } }'));
  const policy = (name: string) => r.get(name)?.route?.['retry_policy'] as Record<string, unknown> | undefined;
  assert.deepEqual(r.get('hashed')?.route?.['hash_policy'], [{ header: { header_name: 'x-user' } }]);
  assert.equal(policy('hashed')?.['retry_host_predicate'], undefined);
  assert.deepEqual(policy('hashed')?.['num_retries'], { value: 3 });
  assert.equal(policy('hashed-default')?.['retry_host_predicate'], undefined, "the mesh's default policy too");
  assert.equal(policy('hashed-default')?.['retry_on'], 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes');
  assert.deepEqual(policy('plain')?.['retry_host_predicate'], [{ name: 'envoy.retry_host_predicates.previous_hosts' }]);
  // Without any VirtualService the default route hashes too, but keeps Istio's default retry policy,
  // previous_hosts included (BuildDefaultHTTPOutboundRoute adds the hash after the policy).
  const bare = routes(dr('{ consistentHash: { useSourceIp: true } }').replace(/^---/, ''));
  const bareRetry = bare.get('default')?.route?.['retry_policy'] as Record<string, unknown> | undefined;
  assert.ok(bareRetry, 'the default route retries');
  assert.deepEqual(bare.get('default')?.route?.['hash_policy'], [{ connection_properties: { source_ip: true } }]);
  assert.deepEqual(bareRetry['retry_host_predicate'], [{ name: 'envoy.retry_host_predicates.previous_hosts' }]);
});

test('retries: retryIgnorePreviousHosts decides the host predicate either way, and backoff sets the base interval', () => {
  const dr = `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: api, namespace: shop }
spec:
  host: api.shop.svc.cluster.local
  trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x-user } } }
`;
  const http = `    - name: hashed-but-moving
      match: [{ uri: { prefix: /h } }]
      route: [{ destination: { host: api } }]
      retries: { attempts: 3, retryOn: 5xx, retryIgnorePreviousHosts: true, backoff: 100ms }
    - name: weighted
      match: [{ uri: { prefix: /w } }]
      route: [{ destination: { host: api }, weight: 100 }, { destination: { host: api }, weight: 0 }]
      retries: { attempts: 3, retryOn: 5xx }
    - name: staying
      route: [{ destination: { host: api.shop.svc.cluster.local, port: { number: 80 } } }]
      retries: { attempts: 3, retryOn: 5xx, retryIgnorePreviousHosts: false }
`;
  const r = routes(vs(http) + dr);
  const policy = (name: string) => r.get(name)?.route?.['retry_policy'] as Record<string, unknown> | undefined;
  const previousHosts = [{ name: 'envoy.retry_host_predicates.previous_hosts' }];
  assert.deepEqual(policy('hashed-but-moving')?.['retry_host_predicate'], previousHosts);
  assert.deepEqual(policy('hashed-but-moving')?.['retry_back_off'], { base_interval: { seconds: 0, nanos: 100_000_000 } });
  // Istio hashes only a route of one destination: two (one at weight 0) keep previous_hosts.
  assert.deepEqual(policy('weighted')?.['retry_host_predicate'], previousHosts);
  assert.equal(policy('staying')?.['retry_host_predicate'], undefined);
});

test("timeouts: max_grpc_timeout is the route's timeout (0 = a gRPC client's grpc-timeout unbounded), as Istio's setTimeout", () => {
  const r = routes(
    vs(`    - name: timed
      match: [{ uri: { prefix: /t } }]
      timeout: 3s
      route: [{ destination: { host: api } }]
    - name: untimed
      route: [{ destination: { host: api } }]
`),
  );
  assert.deepEqual(r.get('timed')?.route?.['timeout'], { seconds: 3 });
  assert.deepEqual(r.get('timed')?.route?.['max_grpc_timeout'], { seconds: 3 });
  assert.deepEqual(r.get('untimed')?.route?.['timeout'], { seconds: 0 });
  assert.deepEqual(r.get('untimed')?.route?.['max_grpc_timeout'], { seconds: 0 });
});

test("retries given without attempts (or with 0) disable retrying: Istio's ConvertPolicy returns nil for attempts <= 0", () => {
  const r = routes(
    vs(`    - name: no-attempts
      match: [{ uri: { prefix: /n } }]
      route: [{ destination: { host: api } }]
      retries: { retryIgnorePreviousHosts: false, backoff: 50ms }
    - name: zero
      match: [{ uri: { prefix: /z } }]
      route: [{ destination: { host: api } }]
      retries: { attempts: 0 }
    - name: absent
      route: [{ destination: { host: api } }]
`),
  );
  assert.equal(r.get('no-attempts')?.route?.['retry_policy'], undefined);
  assert.equal(r.get('zero')?.route?.['retry_policy'], undefined);
  // Only a route without `retries` takes the default policy.
  assert.deepEqual((r.get('absent')?.route?.['retry_policy'] as Record<string, unknown> | undefined)?.['num_retries'], { value: 2 });
});

test('meshConfig.defaultHttpRetryPolicy is read whole: backoff, retryIgnorePreviousHosts and retryRemoteLocalities too', () => {
  const mesh = `---
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: mesh, namespace: istio-system }
spec:
  meshConfig:
    defaultHttpRetryPolicy: { attempts: 3, retryOn: 5xx, backoff: 100ms, retryIgnorePreviousHosts: false, retryRemoteLocalities: true }
`;
  const policy = routes(mesh.replace(/^---/, '')).get('default')?.route?.['retry_policy'] as Record<string, unknown>;
  assert.deepEqual(policy['num_retries'], { value: 3 });
  assert.equal(policy['retry_on'], '5xx');
  assert.deepEqual(policy['retry_back_off'], { base_interval: { seconds: 0, nanos: 100_000_000 } });
  assert.equal(policy['retry_host_predicate'], undefined, 'retryIgnorePreviousHosts: false');
  assert.equal((policy['retry_priority'] as { name?: string } | undefined)?.name, 'envoy.retry_priorities.previous_priorities');
});

test("headers: a request host / :authority (any case) becomes host_rewrite_literal, as Istio's TranslateHeadersOperations", () => {
  const r = routes(
    vs(`    - name: set-host
      match: [{ uri: { prefix: /s } }]
      headers: { request: { set: { Host: set.example, x-a: "1" }, add: { ":authority": added.example } } }
      route: [{ destination: { host: api } }]
    - name: add-authority
      match: [{ uri: { prefix: /a } }]
      headers: { request: { add: { ":Authority": added.example } } }
      route: [{ destination: { host: api } }]
    - name: rewrite-wins
      match: [{ uri: { prefix: /r } }]
      headers: { request: { set: { host: header.example } } }
      rewrite: { authority: rewrite.example }
      route: [{ destination: { host: api } }]
    - name: destination
      match: [{ uri: { prefix: /d } }]
      route: [{ destination: { host: api }, headers: { request: { set: { host: dest.example } } } }]
    - name: route-over-destination
      match: [{ uri: { prefix: /o } }]
      headers: { request: { set: { host: route.example } } }
      route: [{ destination: { host: api }, headers: { request: { set: { host: dest.example } } } }]
    - name: weighted
      match: [{ uri: { prefix: /w } }]
      headers: { request: { set: { host: route.example } } }
      route:
        - { destination: { host: api }, weight: 50, headers: { request: { add: { host: one.example } } } }
        - { destination: { host: api }, weight: 50 }
`),
  );
  const host = (name: string) => r.get(name)?.route?.['host_rewrite_literal'];
  assert.equal(host('set-host'), 'set.example', '`set` wins over `add`');
  assert.deepEqual(r.get('set-host')?.['request_headers_to_add'], [{ header: { key: 'x-a', value: '1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }]);
  assert.equal(host('add-authority'), 'added.example');
  assert.equal(r.get('add-authority')?.['request_headers_to_add'], undefined);
  assert.equal(host('rewrite-wins'), 'rewrite.example');
  assert.equal(host('destination'), 'dest.example');
  assert.equal(host('route-over-destination'), 'route.example', 'the destination rewrites only when the route does not');
  assert.equal(host('weighted'), 'route.example');
  const weighted = r.get('weighted')?.route?.['weighted_clusters'] as { clusters: Record<string, unknown>[] } | undefined;
  const clusters = weighted?.clusters ?? [];
  assert.equal(clusters.length, 2);
  assert.equal(clusters[0]?.['host_rewrite_literal'], 'one.example');
  assert.equal(clusters[0]?.['request_headers_to_add'], undefined);
  assert.equal(clusters[1]?.['host_rewrite_literal'], undefined);
  // Names Istio's validation refuses at load (src/config/schema/virtual-service.test.ts) are dropped by
  // translation too, as Istio's TranslateHeadersOperations drops them, should one reach it.
  const removed = translateHeaders({ request: { remove: [':path', 'Host', 'x-b'] }, response: { set: { host: 'ignored.example', 'x-c': '1' }, remove: [':status', 'x-d'] } });
  assert.equal(removed.authority, undefined, 'a response host rewrites nothing');
  assert.deepEqual(removed.fields['request_headers_to_remove'], ['x-b']);
  assert.deepEqual(removed.fields['response_headers_to_add'], [{ header: { key: 'x-c', value: '1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }]);
  assert.deepEqual(removed.fields['response_headers_to_remove'], ['x-d']);
});
