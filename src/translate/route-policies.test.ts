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

type Route = { name?: string; route?: Record<string, unknown>; typed_per_filter_config?: Record<string, TypedAny> };

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
